import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import { PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { UpcastingEventStore } from '../../infra/eventStore/upcasting.ts'
import { eventVersions } from '../../commands/eventVersions.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import type { ProjectionReplay } from '../../projections/engine/projectionReplay.ts'
import { dashboardProjections } from './dashboardProjections.ts'

/**
 * The replay figure's child process: replays every dashboard projection of the database named by
 * DATABASE_URL through the engine's replay (new tables built beside the serving ones from
 * position 0, then swapped in), all at once as `mifumo replay --all` runs them, and reports its
 * progress to the parent (which samples this process's memory) over IPC.
 */

export interface ReplayProgressMessage {
  kind: 'progress'
  /** the least advanced replay's share of its events, 0..1 */
  fraction: number
  rssBytes: number
}

export interface ReplayDoneMessage {
  kind: 'done'
  seconds: number
  handled: Record<string, number>
  states: Record<string, string>
  maxRssBytes: number
}

const databaseUrl = process.env.DATABASE_URL
if (!databaseUrl) throw new Error('DATABASE_URL is required')
const batchSize = process.env.REPLAY_BATCH_SIZE ? Number(process.env.REPLAY_BATCH_SIZE) : undefined

const database = await openSqlDatabase({ databaseUrl, dataDir: 'memory://', poolSize: 10 })
const store = await PostgresEventStore.open(database)
const engine = new ProjectionEngine({ db: database.db, store: new UpcastingEventStore(store, eventVersions), ...(batchSize ? { batchSize } : {}) })
engine.register(...dashboardProjections)
await engine.prepare()

const started = performance.now()
const replays: ProjectionReplay[] = []
for (const projection of dashboardProjections) replays.push(await engine.replay(projection.name, 'benchmark'))
const report = setInterval(() => {
  const fractions = replays.map((replay) => {
    const progress = replay.progress()
    if (replay.state === 'swapped') return 1
    return progress.total ? Math.min(1, progress.done / progress.total) : 0
  })
  const message: ReplayProgressMessage = { kind: 'progress', fraction: Math.min(...fractions), rssBytes: process.memoryUsage.rss() }
  process.send?.(message)
}, 200)
const states = await Promise.all(replays.map((replay) => replay.done()))
const seconds = (performance.now() - started) / 1000
clearInterval(report)
const done: ReplayDoneMessage = {
  kind: 'done',
  seconds,
  handled: Object.fromEntries(replays.map((replay) => [replay.projection.name, replay.progress().done])),
  states: Object.fromEntries(replays.map((replay, index) => [replay.projection.name, states[index]!])),
  // kilobytes on Linux
  maxRssBytes: process.resourceUsage().maxRSS * 1024,
}
await new Promise<void>((resolve) => (process.send ? process.send(done, () => resolve()) : resolve()))
await engine.stop()
await store.close()
await database.close()
process.disconnect?.()
