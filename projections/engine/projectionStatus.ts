import type { Kysely } from 'kysely'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { readLiveCheckpoint, readCheckpoint, type EngineTables } from './checkpoints.ts'
import { replayCheckpointName, type Projection } from './projection.ts'

/**
 * What ops see of each projection, from the database (so any process can answer, whether or not
 * it runs the projections): version, checkpoint, lag behind the head of the log in events and
 * seconds, state, last error, and the progress of a replay under way.
 */
export type ProjectionState = 'live' | 'catching_up' | 'rebuilding' | 'failed'

export interface ReplayStatus {
  state: 'running' | 'swapped' | 'cancelled' | 'failed'
  target_version: number
  done: number | null
  total: number | null
  percent: number | null
  events_per_second: number | null
  eta_seconds: number | null
  started_at: string
  finished_at: string | null
  last_error: string | null
}

export interface ProjectionStatus {
  name: string
  /** the version this code builds */
  code_version: number
  /** the version of the tables that serve now (null before the first build) */
  live_version: number | null
  position: number
  head: number
  /** matching events after the checkpoint (null when the store cannot count) */
  lag_events: number | null
  /** how long the oldest event it has not handled yet has been waiting */
  lag_seconds: number
  state: ProjectionState
  last_error: string | null
  /** the latest replay of this projection (running, or the last one that ended) */
  replay: ReplayStatus | null
}

function round(value: number, digits = 1): number {
  const factor = 10 ** digits
  return Math.round(value * factor) / factor
}

export async function replayStatusOf(db: Kysely<EngineTables>, store: EventStore, projection: Projection, now: Date): Promise<ReplayStatus | null> {
  const row = await db.selectFrom('projection_replays').selectAll().where('name', '=', projection.name).executeTakeFirst()
  if (!row) return null
  const total = row.total_events === null ? null : Number(row.total_events)
  let done: number | null = null
  if (row.state === 'running') {
    const checkpoint = await readCheckpoint(db, replayCheckpointName(projection.name), row.target_version)
    done = checkpoint && store.countEvents ? await store.countEvents({ upTo: checkpoint.position, eventTypes: projection.eventTypes }) : null
  } else if (row.state === 'swapped') {
    done = total
  }
  const startedAt = new Date(row.started_at)
  const seconds = Math.max(0.001, ((row.finished_at ? new Date(row.finished_at) : now).getTime() - startedAt.getTime()) / 1000)
  const rate = done === null ? null : done / seconds
  return {
    state: row.state,
    target_version: row.target_version,
    done,
    total,
    percent: done !== null && total ? round(Math.min(100, (done / total) * 100)) : null,
    events_per_second: rate === null ? null : Math.round(rate),
    eta_seconds: row.state === 'running' && rate && total !== null && done !== null ? Math.max(0, Math.round((total - done) / rate)) : null,
    started_at: startedAt.toISOString(),
    finished_at: row.finished_at ? new Date(row.finished_at).toISOString() : null,
    last_error: row.last_error,
  }
}

export async function projectionStatusOf(db: Kysely<EngineTables>, store: EventStore, projection: Projection, head: number, now: Date): Promise<ProjectionStatus> {
  const [live, replay] = await Promise.all([readLiveCheckpoint(db, projection.name), replayStatusOf(db, store, projection, now)])
  const position = live?.position ?? 0
  const [lagEvents, oldestWaiting] = await Promise.all([
    store.countEvents ? store.countEvents({ after: position, upTo: head, eventTypes: projection.eventTypes }) : Promise.resolve(null),
    position < head ? store.readAll({ after: position, limit: 1, eventTypes: projection.eventTypes }).then((slice) => slice.events[0]) : Promise.resolve(undefined),
  ])
  const lagSeconds = oldestWaiting && oldestWaiting.position <= head ? Math.max(0, (now.getTime() - oldestWaiting.recordedAt.getTime()) / 1000) : 0
  const rebuilding = replay?.state === 'running' || (live !== undefined && live.version !== projection.version)
  const state: ProjectionState = live?.status === 'failed' ? 'failed' : rebuilding ? 'rebuilding' : (lagEvents ?? (oldestWaiting ? 1 : 0)) > 0 ? 'catching_up' : 'live'
  return {
    name: projection.name,
    code_version: projection.version,
    live_version: live?.version ?? null,
    position,
    head,
    lag_events: lagEvents,
    lag_seconds: round(lagSeconds),
    state,
    last_error: live?.last_error ?? null,
    replay,
  }
}

export async function projectionStatuses(db: Kysely<any>, store: EventStore, projections: readonly Projection[], now: Date): Promise<ProjectionStatus[]> {
  const head = await store.headPosition()
  return Promise.all(projections.map((projection) => projectionStatusOf(db as Kysely<EngineTables>, store, projection, head, now)))
}
