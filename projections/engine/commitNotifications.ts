import type { SqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { ProjectionEngine } from './projectionEngine.ts'

/**
 * How readers of a read model learn that it changed. In the process that runs the projections,
 * `engine.onCommitted` says so right after each batch commits; processes that serve HTTP without
 * running the projections (RUN_PROJECTIONS=false, the projections in a worker) hear it through a
 * PostgreSQL NOTIFY on `projection_committed` with the payload `<projection name>:<checkpoint
 * position>`. The embedded PGlite belongs to one process, so there the hook alone is enough.
 */
export const PROJECTION_COMMITTED_CHANNEL = 'projection_committed'

export type CommitNotice = (projectionName: string, position: number) => void

/**
 * Sends the NOTIFY after each batch this engine commits, on PostgreSQL. Outside the batch's
 * transaction (NOTIFY takes a cluster-wide lock at commit) and coalesced: while one is in flight,
 * later commits only raise the position the next one carries for their projection. Returns the
 * stop function (call it before the database closes).
 */
export function announceCommits(engine: ProjectionEngine, database: Pick<SqlDatabase, 'engine' | 'notify'>): () => void {
  if (database.engine !== 'postgres') return () => undefined
  const pending = new Map<string, number>()
  let inFlight = false
  let stopped = false
  const flush = async (): Promise<void> => {
    inFlight = true
    try {
      while (pending.size > 0 && !stopped) {
        const [name, position] = pending.entries().next().value as [string, number]
        pending.delete(name)
        await database.notify(PROJECTION_COMMITTED_CHANNEL, `${name}:${position}`).catch(() => undefined)
      }
    } finally {
      inFlight = false
    }
  }
  const unsubscribe = engine.onCommitted((name, position) => {
    if (stopped) return
    pending.set(name, Math.max(pending.get(name) ?? 0, position))
    if (!inFlight) void flush()
  })
  return () => {
    stopped = true
    pending.clear()
    unsubscribe()
  }
}

/** `<name>:<position>` → its parts; null for anything else. */
export function parseCommitPayload(payload: string): { name: string; position: number } | null {
  const colon = payload.lastIndexOf(':')
  if (colon <= 0) return null
  const position = Number(payload.slice(colon + 1))
  if (!Number.isSafeInteger(position) || position < 0) return null
  return { name: payload.slice(0, colon), position }
}

/**
 * Calls `listener` when a projection of any process commits: from this process's engine at once,
 * and from other processes' NOTIFY on PostgreSQL. A commit heard both ways (this process's own
 * NOTIFY comes back to it), or an older position heard late, is passed on once: only positions
 * above the last one passed on for that projection are. Resolves once listening; returns the stop.
 */
export async function watchProjectionCommits(
  engine: ProjectionEngine,
  database: Pick<SqlDatabase, 'engine' | 'listen'>,
  listener: CommitNotice,
): Promise<() => Promise<void>> {
  const seen = new Map<string, number>()
  const pass = (name: string, position: number): void => {
    const last = seen.get(name)
    if (last !== undefined && position <= last) return
    seen.set(name, position)
    listener(name, position)
  }
  const stopHook = engine.onCommitted((name, position) => pass(name, position))
  let stopListening: (() => Promise<void>) | undefined
  if (database.engine === 'postgres') {
    try {
      stopListening = await database.listen(PROJECTION_COMMITTED_CHANNEL, (payload) => {
        const notice = parseCommitPayload(payload)
        if (notice) pass(notice.name, notice.position)
      })
    } catch (error) {
      stopHook()
      throw error
    }
  }
  return async () => {
    stopHook()
    await stopListening?.().catch(() => undefined)
  }
}
