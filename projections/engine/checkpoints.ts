import { sql, type Generated, type Kysely, type Selectable } from 'kysely'
import type { MigrationSet } from '../../infra/database/migrations.ts'

export type SubscriberStatus = 'starting' | 'catching_up' | 'live' | 'failed' | 'stopped'

export interface ProjectionCheckpointsTable {
  name: string
  version: number
  position: number
  status: string
  last_error: string | null
  updated_at: Generated<Date>
}

export interface EngineTables {
  projection_checkpoints: ProjectionCheckpointsTable
}

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

export async function recordCheckpointStatus(db: Kysely<EngineTables>, name: string, version: number, status: SubscriberStatus, error: string | null): Promise<void> {
  await db
    .updateTable('projection_checkpoints')
    .set({ status, last_error: error, updated_at: sql`now()` })
    .where('name', '=', name)
    .where('version', '=', version)
    .execute()
}
