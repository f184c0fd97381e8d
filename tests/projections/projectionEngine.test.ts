import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql, type Kysely, type Transaction } from 'kysely'
import { schemaMigrations } from '../../app.ts'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { NewEvent, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { projectionSchema, type Projection } from '../../projections/engine/projection.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import { eventually } from '../support/eventually.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * The engine's promises: batch writes and checkpoint commit together (a failing batch leaves no
 * trace and is retried until it succeeds, exactly once), one failing projection does not stop the
 * others, and two runners of one projection never apply an event twice.
 */
const metadata = { tenantId: null, userId: null, correlationId: 'c', causationId: null, ip: null, userAgent: null, occurredAt: '2026-01-01T00:00:00Z', schemaVersion: 1 }
const tick = (n: number): NewEvent => ({ id: randomUUID(), type: 'tick', data: { n }, metadata })

/** Counts ticks per key; can be told to fail on a given tick, after having written its rows. */
function counter(name: string, failOn: Set<number>): Projection {
  return {
    kind: 'projection',
    name,
    version: 1,
    eventTypes: ['tick'],
    async createTables(db: Kysely<any>) {
      await db.schema.createTable('ticks').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('count', 'integer', (c) => c.notNull()).execute()
    },
    async handle(events: readonly RecordedEvent[], trx: Transaction<any>) {
      await sql`insert into ticks (key, count) values ('all', ${events.length}) on conflict (key) do update set count = ticks.count + excluded.count`.execute(trx)
      const bad = events.find((event) => failOn.has((event.data as { n: number }).n))
      if (bad) throw new Error(`tick ${(bad.data as { n: number }).n} is poisoned`)
    },
  }
}

async function count(db: Kysely<any>, name: string): Promise<number> {
  const { rows } = await sql<{ count: number }>`select count from ${sql.table(`${projectionSchema(name)}.ticks`)} where key = 'all'`.execute(db)
  return rows[0]?.count ?? 0
}

t.test('projector engine', async (t) => {
  const database = await createTestDatabase('engine')
  const sqlDatabase = await openSqlDatabase({ databaseUrl: database.url, dataDir: 'memory://' })
  await migrateToLatest(sqlDatabase.db, schemaMigrations)
  const store = await PostgresEventStore.open(sqlDatabase)
  t.teardown(async () => {
    await store.close()
    await sqlDatabase.close()
    await database.drop()
  })

  const poison = new Set([7])
  const engine = new ProjectionEngine({ db: sqlDatabase.db, store, batchSize: 5, pollIntervalMs: 50 })
  engine.register(counter('healthy', new Set()), counter('fragile', poison))
  await engine.prepare()
  engine.start()

  for (let n = 1; n <= 20; n++) await store.append([{ streamName: `ticker-${n % 3}`, expectedVersion: 'any', events: [tick(n)] }])
  const head = await store.headPosition()

  t.ok(await engine.waitFor('healthy', head, 15_000), 'the healthy projection reaches the head')
  t.equal(await count(sqlDatabase.db, 'healthy'), 20, 'every tick counted once')

  const stuck = await eventually(async () => engine.report().find((r) => r.name === 'fragile')!, (r) => r.status === 'failed')
  t.match(stuck.lastError, /tick 7 is poisoned/, 'the failing projection reports its error')
  t.ok(stuck.position < head, 'and stays before the failing batch')
  const persisted = await sqlDatabase.db.selectFrom('projection_checkpoints').selectAll().where('name', '=', 'fragile').executeTakeFirstOrThrow()
  t.equal(persisted.status, 'failed', 'the failure is visible in the checkpoint table')
  t.ok((await count(sqlDatabase.db, 'fragile')) < 20, 'the failing batch left no rows behind')

  poison.clear() // the bug is fixed: the retry goes through
  t.ok(await engine.waitFor('fragile', head, 20_000), 'after the fix it catches up')
  t.equal(await count(sqlDatabase.db, 'fragile'), 20, 'the retried batch counted once')
  t.equal(engine.report().find((r) => r.name === 'fragile')!.status, 'live')

  // a second runner of the same projections (another process) never double-counts
  const other = new ProjectionEngine({ db: sqlDatabase.db, store, batchSize: 3, pollIntervalMs: 50 })
  other.register(counter('healthy', new Set()), counter('fragile', new Set()))
  await other.prepare()
  other.start()
  await Promise.all(
    Array.from({ length: 30 }, (_, i) => store.append([{ streamName: `ticker-x${i}`, expectedVersion: 'no_stream', events: [tick(100 + i)] }])),
  )
  const head2 = await store.headPosition()
  t.ok(await engine.waitForAll(head2, 20_000), 'first runner caught up')
  t.ok(await other.waitForAll(head2, 20_000), 'second runner caught up')
  t.equal(await count(sqlDatabase.db, 'healthy'), 50, 'two runners, each event counted once')
  t.equal(await count(sqlDatabase.db, 'fragile'), 50)
  await other.stop()

  // a process that does not run the projection waits on the committed checkpoint instead
  const observer = new ProjectionEngine({ db: sqlDatabase.db, store })
  observer.register(counter('healthy', new Set()))
  await store.append([{ streamName: 'ticker-last', expectedVersion: 'any', events: [tick(999)] }])
  t.ok(await observer.waitFor('healthy', await store.headPosition(), 20_000), 'a non-running engine sees the committed checkpoint move')
  t.notOk(await observer.waitFor('healthy', Number.MAX_SAFE_INTEGER, 100), 'and times out for a position nobody reaches')
  await engine.stop()
})
