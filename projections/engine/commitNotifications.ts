import type { SqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { ProjectionEngine } from './projectionEngine.ts'

/**
 * How readers of a read model learn that it changed. In the process that runs the projections,
 * `engine.onCommitted` says so right after each batch commits; processes that serve HTTP without
 * running the projections (RUN_PROJECTIONS=false, the projections in a worker) hear it through a
 * PostgreSQL NOTIFY on `projection_committed` with the payload `<projection name>:<checkpoint
 * position>`, or `<projection name>:<checkpoint position>:<tenant>,<tenant>…` when the commit
 * touched only those tenants. The embedded PGlite belongs to one process, so there the hook alone
 * is enough.
 */
export const PROJECTION_COMMITTED_CHANNEL = 'projection_committed'

/**
 * A projection committed up to `position`; `tenants` are the tenants whose rows it may have
 * changed, null when that is unknown (then any tenant's may have).
 */
export type CommitNotice = (projectionName: string, position: number, tenants: readonly string[] | null) => void

/** Tenants named in one NOTIFY at most (its payload is limited to 8,000 bytes); more: every tenant. */
const MAX_NOTIFIED_TENANTS = 100

interface PendingNotice {
  position: number
  /** null: every tenant */
  tenants: Set<string> | null
}

/** The payload of a notice: `<name>:<position>[:<tenant>,<tenant>…]`. */
export function commitPayload(name: string, position: number, tenants: Iterable<string> | null): string {
  if (tenants === null) return `${name}:${position}`
  const list = [...tenants]
  return list.length === 0 ? `${name}:${position}` : `${name}:${position}:${list.join(',')}`
}

/**
 * Sends the NOTIFY after each batch this engine commits, on PostgreSQL. Outside the batch's
 * transaction (NOTIFY takes a cluster-wide lock at commit) and coalesced: while one is in flight,
 * later commits only raise the position the next one carries for their projection. Returns the
 * stop function (call it before the database closes).
 */
export function announceCommits(engine: ProjectionEngine, database: Pick<SqlDatabase, 'engine' | 'notify'>): () => void {
  if (database.engine !== 'postgres') return () => undefined
  const pending = new Map<string, PendingNotice>()
  let inFlight = false
  let stopped = false
  const flush = async (): Promise<void> => {
    inFlight = true
    try {
      while (pending.size > 0 && !stopped) {
        const [name, notice] = pending.entries().next().value as [string, PendingNotice]
        pending.delete(name)
        await database.notify(PROJECTION_COMMITTED_CHANNEL, commitPayload(name, notice.position, notice.tenants)).catch(() => undefined)
      }
    } finally {
      inFlight = false
    }
  }
  const unsubscribe = engine.onCommitted((name, position, batch) => {
    if (stopped) return
    const tenants = batch.tenants ?? null
    const notice = pending.get(name)
    if (!notice) {
      pending.set(name, { position, tenants: tenants === null ? null : new Set(tenants) })
    } else {
      // coalesced with a notice not sent yet: the highest position, every tenant of both
      notice.position = Math.max(notice.position, position)
      if (notice.tenants !== null && tenants !== null) for (const tenant of tenants) notice.tenants.add(tenant)
      else notice.tenants = null
    }
    const merged = pending.get(name)!
    if (merged.tenants !== null && merged.tenants.size > MAX_NOTIFIED_TENANTS) merged.tenants = null
    if (!inFlight) void flush()
  })
  return () => {
    stopped = true
    pending.clear()
    unsubscribe()
  }
}

/**
 * `<name>:<position>[:<tenants>]` → its parts (`tenants` only when the payload names them); null
 * for anything else.
 */
export function parseCommitPayload(payload: string): { name: string; position: number; tenants?: string[] } | null {
  const colon = payload.indexOf(':')
  if (colon <= 0) return null
  const rest = payload.slice(colon + 1)
  const second = rest.indexOf(':')
  const positionText = second < 0 ? rest : rest.slice(0, second)
  if (!/^\d+$/.test(positionText)) return null
  const position = Number(positionText)
  if (!Number.isSafeInteger(position)) return null
  const name = payload.slice(0, colon)
  if (second < 0) return { name, position }
  const tenants = rest.slice(second + 1).split(',').filter((tenant) => tenant !== '')
  return tenants.length === 0 ? { name, position } : { name, position, tenants }
}

/**
 * Calls `listener` when a projection of any process commits: from this process's engine at once,
 * and from other processes' NOTIFY on PostgreSQL. A commit heard both ways (this process's own
 * NOTIFY comes back to it), or an older position heard late, is passed on once: only positions
 * above the last one passed on for that projection are. Each notice names the tenants the commit
 * touched (null: unknown). Resolves once listening; returns the stop.
 */
export async function watchProjectionCommits(
  engine: ProjectionEngine,
  database: Pick<SqlDatabase, 'engine' | 'listen'>,
  listener: CommitNotice,
): Promise<() => Promise<void>> {
  const seen = new Map<string, number>()
  const pass = (name: string, position: number, tenants: readonly string[] | null): void => {
    const last = seen.get(name)
    if (last !== undefined && position <= last) return
    seen.set(name, position)
    listener(name, position, tenants)
  }
  const stopHook = engine.onCommitted((name, position, batch) => pass(name, position, batch.tenants ?? null))
  let stopListening: (() => Promise<void>) | undefined
  if (database.engine === 'postgres') {
    try {
      stopListening = await database.listen(PROJECTION_COMMITTED_CHANNEL, (payload) => {
        const notice = parseCommitPayload(payload)
        if (notice) pass(notice.name, notice.position, notice.tenants ?? null)
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
