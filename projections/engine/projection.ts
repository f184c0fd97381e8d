import type { Kysely, Transaction } from 'kysely'
import type { RecordedEvent } from '../../infra/eventStore/eventStore.ts'

/**
 * A projection: a read model folded from events. It owns its tables, which live in a schema of
 * their own (`proj_<name>`); a new version is built beside them by a replay and swapped in.
 * `handle` gets a batch of events and a transaction whose search_path is that schema, so it writes
 * unqualified table names; the engine commits the batch and the checkpoint together.
 *
 * Rules: deterministic (time comes from events, never the wall clock), idempotent per batch
 * boundary (the engine never hands the same event twice to a committed state), and each touched
 * row written once per batch where it can be.
 */
export interface Projection {
  kind: 'projection'
  name: string
  version: number
  eventTypes: readonly string[]
  /** create the tables in the given (empty) schema: the projection's migration */
  createTables(db: Kysely<any>, schema: string): Promise<void>
  handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void>
}

/**
 * A reactor: reacts to events by running commands (a process manager). It has no tables; its
 * checkpoint moves after its handler returns, so it sees each event at least once and its
 * commands must be idempotent (deterministic event ids or stream names).
 */
export interface Reactor {
  kind: 'reactor'
  name: string
  version: number
  eventTypes: readonly string[]
  handle(events: readonly RecordedEvent[]): Promise<void>
}

export type Subscriber = Projection | Reactor

/**
 * The schema that serves a projection's tables (`proj_<name>`), whatever version built them; a
 * replay builds the next tables beside it, in `proj_<name>__replay`, and swaps the two names.
 */
export const projectionSchema = (name: string): string => `proj_${name}`

/** Where a replay builds a projection's next tables while the current ones keep serving. */
export const replaySchema = (name: string): string => `proj_${name}__replay`

/** The checkpoint of a projection's replay, beside the projection's own. */
export const replayCheckpointName = (name: string): string => `${name}@replay`

/** A Kysely handle whose unqualified table names are the projection's current tables. */
export function readModel<Tables>(db: Kysely<any>, projection: { name: string }): Kysely<Tables> {
  return db.withSchema(projectionSchema(projection.name)) as Kysely<Tables>
}
