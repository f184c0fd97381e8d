import { sql, type Generated, type Kysely, type Selectable } from 'kysely'
import type { MigrationSet } from '../../infra/database/migrations.ts'

export type SubscriberStatus = 'starting' | 'catching_up' | 'live' | 'failed' | 'stopped' | 'rebuilding' | 'superseded'

export interface ProjectionCheckpointsTable {
  name: string
  version: number
  position: number
  status: string
  last_error: string | null
  updated_at: Generated<Date>
}

/** A projection's replay: building its next tables beside the serving ones (at most one per projection). */
export interface ProjectionReplaysTable {
  name: string
  target_version: number
  state: 'running' | 'swapped' | 'cancelled' | 'failed'
  /** matching events up to the head when the replay began (null when the store cannot count) */
  total_events: number | null
  head_at_start: number
  last_error: string | null
  requested_by: string
  started_at: Generated<Date>
  updated_at: Generated<Date>
  finished_at: Date | null
}

export interface EngineTables {
  projection_checkpoints: ProjectionCheckpointsTable
  projection_replays: ProjectionReplaysTable
}

export type ReplayRow = Selectable<ProjectionReplaysTable>

export type Checkpoint = Selectable<ProjectionCheckpointsTable>

export const checkpointMigrations: MigrationSet = {
  '20261122082000_projection_checkpoints': {
    async up(db) {
      await db.schema
        .createTable('projection_checkpoints')
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('position', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('status', 'text', (c) => c.notNull().defaultTo('starting'))
        .addColumn('last_error', 'text')
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('projection_checkpoints_pkey', ['name', 'version'])
        .execute()
    },
    async down(db) {
      await db.schema.dropTable('projection_checkpoints').ifExists().execute()
    },
  },
}

export const replayMigrations: MigrationSet = {
  '20261122110000_projection_replays': {
    async up(db) {
      await db.schema
        .createTable('projection_replays')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('target_version', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('total_events', 'bigint')
        .addColumn('head_at_start', 'bigint', (c) => c.notNull())
        .addColumn('last_error', 'text')
        .addColumn('requested_by', 'text', (c) => c.notNull())
        .addColumn('started_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('finished_at', 'timestamptz')
        .execute()
    },
    async down(db) {
      await db.schema.dropTable('projection_replays').ifExists().execute()
    },
  },
}

/** The checkpoint a projection serves from: its only row by name (the newest version if a legacy database has several). */
export async function readLiveCheckpoint(db: Kysely<EngineTables>, name: string): Promise<Checkpoint | undefined> {
  return db.selectFrom('projection_checkpoints').selectAll().where('name', '=', name).orderBy('version', 'desc').executeTakeFirst()
}

export async function readCheckpoint(db: Kysely<EngineTables>, name: string, version: number): Promise<Checkpoint | undefined> {
  return db.selectFrom('projection_checkpoints').selectAll().where('name', '=', name).where('version', '=', version).executeTakeFirst()
}

/** Moves the checkpoint only if nobody else moved it since `from`: false means another runner did. */
export async function advanceCheckpoint(db: Kysely<EngineTables>, name: string, version: number, from: number, to: number): Promise<boolean> {
  const result = await db
    .updateTable('projection_checkpoints')
    .set({ position: to, status: 'live', last_error: null, updated_at: sql`now()` })
    .where('name', '=', name)
    .where('version', '=', version)
    .where('position', '=', from)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/**
 * advanceCheckpoint for a batch about to be written: when the checkpoint moves, the transaction's
 * search_path becomes `schema` (the projection's tables) in the same round trip, and the
 * transaction commits without waiting for its WAL to reach the disk. A projection's rows and
 * checkpoint are derived from the log and commit together: a crash may lose the last batches of
 * both, and the projection handles them again from the checkpoint that did reach the disk (the
 * events themselves are appended durably).
 */
export async function advanceCheckpointInto(trx: Kysely<EngineTables>, name: string, version: number, from: number, to: number, schema: string): Promise<boolean> {
  const { rows } = await sql<{ path: string }>`
    update projection_checkpoints
       set position = ${to}, status = 'live', last_error = null, updated_at = now()
     where name = ${name} and version = ${version} and position = ${from}
    returning set_config('search_path', ${`${schema}, public`}, true) as path, set_config('synchronous_commit', 'off', true) as synchronous_commit`.execute(trx)
  return rows.length === 1
}

export async function recordCheckpointStatus(db: Kysely<EngineTables>, name: string, version: number, status: SubscriberStatus, error: string | null): Promise<void> {
  await db
    .updateTable('projection_checkpoints')
    .set({ status, last_error: error, updated_at: sql`now()` })
    .where('name', '=', name)
    .where('version', '=', version)
    .execute()
}
