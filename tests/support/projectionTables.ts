import { sql, type Kysely } from 'kysely'
import type { Services } from '../../app.ts'
import { projectionSchema, type Projection } from '../../projections/engine/projection.ts'
import { createProjectionTables, SubscriberRunner } from '../../projections/engine/subscriberRunner.ts'

/**
 * Projection tables as data, for the property tests that check a projection rebuilt from
 * position 0 holds exactly the rows the incrementally built one holds.
 */

/** Every table of a schema, each as its rows in JSON text, sorted: two schemas compare with `same`. */
export async function schemaTableRows(db: Kysely<any>, schema: string): Promise<Record<string, string[]>> {
  const { rows: tables } = await sql<{ table_name: string }>`
    select table_name from information_schema.tables where table_schema = ${schema} order by table_name`.execute(db)
  const result: Record<string, string[]> = {}
  for (const { table_name } of tables) {
    const { rows } = await sql<{ row: string }>`select to_jsonb(t)::text as row from ${sql.table(`${schema}.${table_name}`)} t order by 1`.execute(db)
    result[table_name] = rows.map((r) => r.row)
  }
  return result
}

/** The assertions a rebuild check makes (a tap test has them). */
export interface RebuildAssertions {
  ok(value: unknown, message: string): boolean
  same(found: unknown, wanted: unknown, message: string): boolean
}

export interface RebuildOptions {
  /** the log position both the live projections and the rebuild must reach */
  head: number
  /** a tag for this check's scratch tables and checkpoints (unique per run) */
  version: number
  /** events per batch of the rebuild */
  batchSize: number
}

/**
 * Waits for the live projections to reach `head`, rebuilds the given projections from position 0
 * into scratch schemas of their own (never touching the serving tables or checkpoints), checks
 * each rebuilt schema holds exactly the live one's rows, then drops the scratch schemas and
 * checkpoints.
 */
export async function expectRebuildEqualsLive(
  t: RebuildAssertions,
  services: Pick<Services, 'database' | 'store' | 'engine'>,
  projections: readonly Projection[],
  { head, version, batchSize }: RebuildOptions,
): Promise<void> {
  const { db } = services.database
  t.ok(await services.engine.waitForAll(head, 20_000), 'the live projections caught up')

  const options = { db, store: services.store, batchSize, pollIntervalMs: 50, idleCheckpointIntervalMs: 5000, singleConnection: false, commitLanes: 1, logger: { info() {}, warn() {}, error() {} } }
  const scratch = projections.map((projection) => ({
    projection,
    identity: { checkpointName: `${projection.name}#check${version}`, version, schema: `${projectionSchema(projection.name)}__check${version}` },
  }))
  const runners = []
  for (const { projection, identity } of scratch) {
    await createProjectionTables(db, projection, identity, 0)
    const runner = new SubscriberRunner(projection, options, identity)
    await runner.load()
    runner.start()
    runners.push(runner)
  }
  const rebuilt = (await Promise.all(runners.map((runner) => runner.waitFor(head, 20_000)))).every(Boolean)
  await Promise.all(runners.map((runner) => runner.stop()))
  t.ok(rebuilt, 'the rebuild caught up')

  for (const { projection, identity } of scratch) {
    const live = await schemaTableRows(db, projectionSchema(projection.name))
    const fresh = await schemaTableRows(db, identity.schema)
    t.same(fresh, live, `${projection.name}: rebuild with batches of ${batchSize} equals the incremental tables`)
  }
  for (const { identity } of scratch) {
    await sql`drop schema ${sql.id(identity.schema)} cascade`.execute(db)
    await sql`delete from projection_checkpoints where name = ${identity.checkpointName}`.execute(db)
  }
}
