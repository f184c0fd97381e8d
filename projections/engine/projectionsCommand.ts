import type { Logger } from 'pino'
import type { Config } from '../../infra/config.ts'
import type { SqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { openForOps, parseOptions, runOpsCommand, UsageError, type OpsIo } from '../../infra/ops/opsCommandLine.ts'
import type { QueueSystem } from '../../infra/queue/jobQueue.ts'
import type { Projection } from './projection.ts'
import type { ProjectionEngine } from './projectionEngine.ts'
import { projectionStatuses, type ProjectionStatus } from './projectionStatus.ts'
import { statusTable, watchReplays } from './replayConsole.ts'
import { cancelReplay, requestReplay } from './replayJobs.ts'

/**
 * `mifumo projections` (status of every projection) and `mifumo replay` (rebuild one, several or
 * all, following their progress bars until each is swapped in). With Redis the replays run as
 * jobs in the worker processes and this command follows them; without it they run here.
 */
export const PROJECTIONS_USAGE = `Usage:
  mifumo projections [--json]
      Every projection: version (built → code), state (live, catching_up, rebuilding, failed),
      checkpoint position, lag behind the head (events and seconds), last error.
  mifumo replay <projection>... | --all [--no-wait] [--json]
      Rebuild from position 0 into new tables while the current ones keep serving, then swap
      them in once caught up with the live log. Shows a progress bar per projection (events
      done/total, rate, time left); Ctrl-C stops watching (and pauses a replay running here: it
      resumes from its checkpoint when started again). --no-wait returns once requested.
  mifumo replay --cancel <projection>...
      Cancel replays under way; the serving tables stay as they are.
`

export interface ProjectionServices {
  store: EventStore
  database: SqlDatabase
  engine: ProjectionEngine
  queues: QueueSystem
  close(): Promise<void>
}

export interface ProjectionsCommandIo extends OpsIo {
  openServices(config: Config, options: { logger: Logger }): Promise<ProjectionServices>
  projections: readonly Projection[]
  /** Ctrl-C: registers a handler, returns its removal (tests pass none) */
  onInterrupt?(handler: () => void): () => void
}

function statusesOf(services: ProjectionServices, selected: readonly Projection[]): Promise<ProjectionStatus[]> {
  return projectionStatuses(services.database.db, services.store, selected, new Date())
}

export async function projectionsCommand(args: string[], io: ProjectionsCommandIo): Promise<number> {
  return runOpsCommand('projections', PROJECTIONS_USAGE, io, async () => {
    const { values } = parseOptions(args, { json: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } })
    if (values.help) {
      io.stdout(PROJECTIONS_USAGE)
      return
    }
    const services = (await openForOps(io, io.openServices as never)) as unknown as ProjectionServices
    try {
      const statuses = await statusesOf(services, io.projections)
      const json = values.json || !(io.isTTY ?? process.stdout.isTTY)
      io.stdout(json ? statuses.map((status) => JSON.stringify(status)).join('\n') + '\n' : statusTable(statuses))
    } finally {
      await services.close()
    }
  })
}

export async function replayCommand(args: string[], io: ProjectionsCommandIo): Promise<number> {
  let exitCode = 0
  const ran = await runOpsCommand('replay', PROJECTIONS_USAGE, io, async () => {
    const { values, positionals } = parseOptions(
      args,
      {
        all: { type: 'boolean', default: false },
        cancel: { type: 'boolean', default: false },
        'no-wait': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      true,
    )
    if (values.help) {
      io.stdout(PROJECTIONS_USAGE)
      return
    }
    if (values.all && positionals.length > 0) throw new UsageError('name projections or give --all, not both')
    if (values.all && values.cancel) throw new UsageError('--cancel names the projections to cancel')
    const selected = values.all ? [...io.projections] : positionals.map((name) => io.projections.find((p) => p.name === name) ?? name)
    const unknown = selected.filter((entry): entry is string => typeof entry === 'string')
    if (selected.length === 0) throw new UsageError('name the projections to replay, or give --all')
    if (unknown.length > 0) throw new UsageError(`no projection named ${unknown.join(', ')} (known: ${io.projections.map((p) => p.name).join(', ')})`)
    const projections = selected as Projection[]

    const services = (await openForOps(io, io.openServices as never)) as unknown as ProjectionServices
    try {
      if (values.cancel) {
        for (const projection of projections) {
          const cancelled = await cancelReplay(services.database.db, services.engine, projection)
          io.stdout(`${projection.name}: ${cancelled ? 'replay cancelled' : 'no replay under way'}\n`)
          if (!cancelled) exitCode = 1
        }
        return
      }
      const how = new Map<string, 'queued' | 'started'>()
      for (const projection of projections) how.set(projection.name, await requestReplay(services.queues, services.engine, projection.name, 'mifumo replay'))
      const queued = [...how.values()].includes('queued')
      if (values['no-wait']) {
        for (const [name, answer] of how) io.stdout(`${name}: replay ${answer}\n`)
        if (!queued) {
          // a replay running here would die with this process: wait for it after all
          io.stderr('mifumo replay: without REDIS_URL the replay runs in this process; following it until it ends\n')
        } else return
      }
      let interrupted = false
      const removeHandler = io.onInterrupt?.(() => {
        interrupted = true
      })
      try {
        const isTTY = io.isTTY ?? process.stdout.isTTY ?? false
        const final = await watchReplays(
          projections.map((p) => p.name),
          () => statusesOf(services, projections),
          { write: (text) => io.stdout(text), isTTY, json: values.json || !isTTY },
          { stopWatching: () => interrupted },
        )
        if (interrupted) {
          io.stderr(queued ? '\nmifumo replay: stopped watching; the replays go on in the workers\n' : '\nmifumo replay: paused; run it again to resume from its checkpoint\n')
          exitCode = 130
          return
        }
        const failed = final.filter((status) => status.replay?.state !== 'swapped')
        if (failed.length > 0) {
          exitCode = 1
          for (const status of failed) io.stderr(`${status.name}: ${status.replay?.state ?? 'no replay'}${status.replay?.last_error ? ` (${status.replay.last_error})` : ''}\n`)
        }
      } finally {
        removeHandler?.()
      }
    } finally {
      // a replay running in this process pauses here, at a batch boundary: it resumes later
      await services.close()
    }
  })
  return ran !== 0 ? ran : exitCode
}
