import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql, type Kysely, type Transaction } from 'kysely'
import { schemaMigrations } from '../../app.ts'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { NewEvent, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { projectionSchema, type Projection, type Reactor } from '../../projections/engine/projection.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import { eventually } from '../support/eventually.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * The engine's shared log reader: the projections that caught up are served by one read per page
 * and one transaction per page for all of them; a projection whose handler throws leaves the
 * reader, retries on its own and comes back once it has caught up; and two engines on one
 * database (two processes) neither lose nor duplicate an event.
 */
const metadata = { tenantId: null, userId: null, correlationId: 'c', causationId: null, ip: null, userAgent: null, occurredAt: '2026-01-01T00:00:00Z', schemaVersion: 1 }
const event = (type: string, n: number): NewEvent => ({ id: randomUUID(), type, data: { n }, metadata })

/**
 * Records every event it is handed (by id: a second delivery would count twice in `handled`
 * but once in `seen`), and the transaction each batch was written in.
 */
function recorder(name: string, eventTypes: string[], failOn = new Set<number>()): Projection {
  return {
    kind: 'projection',
    name,
    version: 1,
    eventTypes,
    async createTables(db: Kysely<any>) {
      await db.schema.createTable('seen').addColumn('event_id', 'uuid', (c) => c.primaryKey()).addColumn('position', 'bigint', (c) => c.notNull()).execute()
      await db.schema.createTable('handled').addColumn('key', 'text', (c) => c.primaryKey()).addColumn('count', 'integer', (c) => c.notNull()).execute()
      await db.schema.createTable('batches').addColumn('last_position', 'bigint', (c) => c.primaryKey()).addColumn('txid', 'bigint', (c) => c.notNull()).execute()
    },
    async handle(events: readonly RecordedEvent[], trx: Transaction<any>) {
      for (const e of events) await sql`insert into seen (event_id, position) values (${e.id}::uuid, ${e.position}) on conflict do nothing`.execute(trx)
      await sql`insert into handled (key, count) values ('all', ${events.length}) on conflict (key) do update set count = handled.count + excluded.count`.execute(trx)
      await sql`insert into batches (last_position, txid) values (${events[events.length - 1]!.position}, txid_current())`.execute(trx)
      const bad = events.find((e) => failOn.has((e.data as { n: number }).n))
      if (bad) throw new Error(`event ${(bad.data as { n: number }).n} is poisoned`)
    },
  }
}

async function tally(db: Kysely<any>, name: string): Promise<{ handled: number; seen: number }> {
  const schema = projectionSchema(name)
  const { rows } = await sql<{ handled: number | null; seen: number }>`
    select (select count from ${sql.table(`${schema}.handled`)} where key = 'all') as handled,
           (select count(*)::int from ${sql.table(`${schema}.seen`)}) as seen`.execute(db)
  return { handled: rows[0]?.handled ?? 0, seen: rows[0]?.seen ?? 0 }
}

async function openStore(url: string) {
  const database = await openSqlDatabase({ databaseUrl: url, dataDir: 'memory://' })
  const store = await PostgresEventStore.open(database)
  return { database, store, async close() { await store.close(); await database.close() } }
}

t.test('one page, one read, one transaction for every projection that caught up', async (t) => {
  const database = await createTestDatabase('shared_reader_page')
  const { database: sqlDatabase, store, close } = await openStore(database.url)
  await migrateToLatest(sqlDatabase.db, schemaMigrations)
  t.teardown(async () => {
    await close()
    await database.drop()
  })
  const engine = new ProjectionEngine({ db: sqlDatabase.db, store, pollIntervalMs: 50, commitLanes: 1 })
  engine.register(recorder('alpha', ['a', 'b']), recorder('beta', ['b']), recorder('gamma', ['c']))
  await engine.prepare()
  engine.start()
  await eventually(async () => engine.reader.members.length, (members) => members === 3)

  const readsBefore = engine.reader.pagesRead
  const committedBefore = engine.reader.pagesCommitted
  // one append: its events become readable together, so the reader finds them in one page
  const appended = await store.append([{ streamName: 'mixed-1', expectedVersion: 'no_stream', events: [event('a', 1), event('b', 2), event('c', 3), event('d', 4)] }])
  t.ok(await engine.waitForAll(appended.lastPosition, 10_000), 'every projection reaches the append')
  t.same(await tally(sqlDatabase.db, 'alpha'), { handled: 2, seen: 2 }, 'alpha got the a and the b')
  t.same(await tally(sqlDatabase.db, 'beta'), { handled: 1, seen: 1 }, 'beta got the b only')
  t.same(await tally(sqlDatabase.db, 'gamma'), { handled: 1, seen: 1 }, 'gamma got the c only')
  t.equal(engine.reader.pagesCommitted - committedBefore, 1, 'the page was committed once for the three')
  t.ok(engine.reader.pagesRead - readsBefore <= 3, `the log was read once for the three (and perhaps once more to find nothing new): ${engine.reader.pagesRead - readsBefore}`)

  const txids = new Set<string>()
  for (const name of ['alpha', 'beta', 'gamma']) {
    const { rows } = await sql<{ txid: string }>`select txid::text from ${sql.table(`${projectionSchema(name)}.batches`)}`.execute(sqlDatabase.db)
    t.equal(rows.length, 1, `${name} wrote one batch`)
    for (const row of rows) txids.add(row.txid)
  }
  t.equal(txids.size, 1, 'the three batches were written in one transaction')
  const checkpoints = await sqlDatabase.db.selectFrom('projection_checkpoints').select(['name', 'position']).where('name', 'in', ['alpha', 'beta', 'gamma']).execute()
  t.ok(checkpoints.every((checkpoint) => Number(checkpoint.position) >= appended.lastPosition), 'and the three checkpoints moved with them')
  await engine.stop()
})

t.test('with commit lanes, one page is read once and committed in that many transactions', async (t) => {
  const database = await createTestDatabase('shared_reader_lanes')
  const { database: sqlDatabase, store, close } = await openStore(database.url)
  await migrateToLatest(sqlDatabase.db, schemaMigrations)
  t.teardown(async () => {
    await close()
    await database.drop()
  })
  const engine = new ProjectionEngine({ db: sqlDatabase.db, store, pollIntervalMs: 50, commitLanes: 2 })
  engine.register(recorder('one', ['a']), recorder('two', ['a']), recorder('three', ['a']), recorder('four', ['a']))
  await engine.prepare()
  engine.start()
  await eventually(async () => engine.reader.members.length, (members) => members === 4)
  const readsBefore = engine.reader.pagesRead
  const appended = await store.append([{ streamName: 'lanes-1', expectedVersion: 'no_stream', events: [event('a', 1), event('a', 2)] }])
  t.ok(await engine.waitForAll(appended.lastPosition, 10_000), 'every projection reaches the append')
  t.ok(engine.reader.pagesRead - readsBefore <= 3, 'the log was read once for the four (and perhaps once more to find nothing new)')
  const txids = new Set<string>()
  for (const name of ['one', 'two', 'three', 'four']) {
    t.same(await tally(sqlDatabase.db, name), { handled: 2, seen: 2 }, `${name} handled both events once`)
    const { rows } = await sql<{ txid: string }>`select txid::text from ${sql.table(`${projectionSchema(name)}.batches`)}`.execute(sqlDatabase.db)
    for (const row of rows) txids.add(row.txid)
  }
  t.equal(txids.size, 2, 'the four batches were written in two transactions')
  await engine.stop()
})

t.test("a lane's projections are announced as committed when their lane ends, not after the page's slowest lane", async (t) => {
  const database = await createTestDatabase('shared_reader_lane_announce')
  const { database: sqlDatabase, store, close } = await openStore(database.url)
  await migrateToLatest(sqlDatabase.db, schemaMigrations)
  t.teardown(async () => {
    await close()
    await database.drop()
  })
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  let slowEntered!: () => void
  const slowStarted = new Promise<void>((resolve) => (slowEntered = resolve))
  const slowRecorder = recorder('slow', ['a'])
  const slow: Projection = {
    ...slowRecorder,
    async handle(events, trx) {
      slowEntered()
      await gate
      await slowRecorder.handle(events, trx)
    },
  }
  const engine = new ProjectionEngine({ db: sqlDatabase.db, store, pollIntervalMs: 50, commitLanes: 2 })
  engine.register(recorder('quick', ['a']), slow)
  const announced: Array<{ name: string; position: number }> = []
  engine.onCommitted((name, position) => announced.push({ name, position }))
  await engine.prepare()
  engine.start()
  await eventually(async () => engine.reader.members.length, (members) => members === 2)
  const appended = await store.append([{ streamName: 'lane-announce-1', expectedVersion: 'no_stream', events: [event('a', 1), event('a', 2)] }])
  await slowStarted
  t.ok(await engine.waitFor('quick', appended.lastPosition, 10_000), 'the quick projection reaches the append while the slow one is held')
  t.same(announced.map((notice) => notice.name), ['quick'], 'only the quick projection was announced')
  t.ok(announced[0]!.position >= appended.lastPosition, "with a checkpoint at or past the append's last event")
  t.same(await tally(sqlDatabase.db, 'quick'), { handled: 2, seen: 2 }, "the quick projection's rows are committed when it is announced")
  t.same(await tally(sqlDatabase.db, 'slow'), { handled: 0, seen: 0 }, "the slow projection's lane has not committed")
  release()
  t.ok(await engine.waitFor('slow', appended.lastPosition, 10_000), 'the slow projection follows once released')
  t.same(await tally(sqlDatabase.db, 'slow'), { handled: 2, seen: 2 }, 'the slow projection handled both events once')
  t.same(announced.map((notice) => notice.name), ['quick', 'slow'], 'each announced once, in the order their lanes ended')
  await engine.stop()
})

for (const commitLanes of [1, 3]) {
  t.test(`a failing projection leaves the reader, the others go on, and it catches up and rejoins (${commitLanes} commit lanes)`, async (t) => {
    const database = await createTestDatabase(`shared_reader_failure_${commitLanes}`)
    const { database: sqlDatabase, store, close } = await openStore(database.url)
    await migrateToLatest(sqlDatabase.db, schemaMigrations)
    t.teardown(async () => {
      await close()
      await database.drop()
    })
    const poison = new Set([7])
    const engine = new ProjectionEngine({ db: sqlDatabase.db, store, batchSize: 4, pollIntervalMs: 50, commitLanes })
    engine.register(recorder('steady', ['tick']), recorder('fragile', ['tick'], poison), recorder('calm', ['tick']))
    await engine.prepare()
    engine.start()
    await eventually(async () => engine.reader.members.length, (members) => members === 3)

    for (let n = 1; n <= 20; n++) await store.append([{ streamName: `ticker-${n % 3}`, expectedVersion: 'any', events: [event('tick', n)] }])
    const head = await store.headPosition()
    t.ok(await engine.waitFor('steady', head, 15_000), 'steady reaches the head')
    t.ok(await engine.waitFor('calm', head, 15_000), 'calm reaches the head')
    t.same(await tally(sqlDatabase.db, 'steady'), { handled: 20, seen: 20 }, 'steady handled every event once')
    t.same(await tally(sqlDatabase.db, 'calm'), { handled: 20, seen: 20 }, 'calm handled every event once')

    const stuck = await eventually(async () => engine.report().find((r) => r.name === 'fragile')!, (r) => r.status === 'failed')
    t.match(stuck.lastError, /event 7 is poisoned/, 'the failing projection reports its error')
    t.ok(stuck.position < head, 'and stays before the failing batch')
    t.notOk(
      engine.reader.members.some((runner) => runner.subscriber.name === 'fragile'),
      'it is no longer a member of the shared reader',
    )
    t.ok((await tally(sqlDatabase.db, 'fragile')).seen < 20, 'its failed batches left no rows')

    poison.clear()
    t.ok(await engine.waitFor('fragile', head, 20_000), 'after the fix it catches up')
    t.same(await tally(sqlDatabase.db, 'fragile'), { handled: 20, seen: 20 }, 'every event handled once')
    await eventually(async () => engine.reader.members.map((runner) => runner.subscriber.name).sort(), (names) => names.join() === 'calm,fragile,steady')
    t.pass('it joined the shared reader again')
    t.equal(engine.report().find((r) => r.name === 'fragile')!.status, 'live')

    // and it is served by the reader again
    const appended = await store.append([{ streamName: 'ticker-late', expectedVersion: 'any', events: [event('tick', 21)] }])
    t.ok(await engine.waitForAll(appended.lastPosition, 10_000))
    for (const name of ['steady', 'fragile', 'calm']) t.same(await tally(sqlDatabase.db, name), { handled: 21, seen: 21 }, `${name}: 21 events, each once`)
    await engine.stop()
  })
}

t.test('two engines on one database lose and duplicate nothing', async (t) => {
  const database = await createTestDatabase('shared_reader_two')
  const first = await openStore(database.url)
  const second = await openStore(database.url)
  await migrateToLatest(first.database.db, schemaMigrations)
  t.teardown(async () => {
    await first.close()
    await second.close()
    await database.drop()
  })
  const projections = () => [recorder('left', ['a', 'b']), recorder('right', ['b', 'c']), recorder('middle', ['a', 'c'])]
  const reacted: string[] = []
  const reactor: Reactor = {
    kind: 'reactor',
    name: 'watcher',
    version: 1,
    eventTypes: ['c'],
    async handle(events) {
      for (const e of events) reacted.push(e.id)
    },
  }
  const engines = [
    new ProjectionEngine({ db: first.database.db, store: first.store, batchSize: 7, pollIntervalMs: 50 }).register(...projections(), reactor),
    new ProjectionEngine({ db: second.database.db, store: second.store, batchSize: 5, pollIntervalMs: 50 }).register(...projections()),
  ]
  for (const engine of engines) await engine.prepare()
  for (const engine of engines) engine.start()

  // both processes append while both engines run
  const types = ['a', 'b', 'c']
  const appendMany = async (store: PostgresEventStore, prefix: string) => {
    for (let n = 0; n < 40; n++) {
      const events = [event(types[n % 3]!, n), event(types[(n + 1) % 3]!, n)]
      await store.append([{ streamName: `${prefix}-${n % 5}`, expectedVersion: 'any', events }])
    }
  }
  await Promise.all([appendMany(first.store, 'one'), appendMany(second.store, 'two'), appendMany(first.store, 'three'), appendMany(second.store, 'four')])
  const head = await first.store.headPosition()
  for (const engine of engines) t.ok(await engine.waitForAll(head, 20_000), 'an engine caught up')

  const { rows } = await sql<{ event_type: string; count: number }>`select event_type, count(*)::int as count from es_events group by event_type`.execute(first.database.db)
  const logged = Object.fromEntries(rows.map((row) => [row.event_type, row.count]))
  const expected = { left: logged.a! + logged.b!, right: logged.b! + logged.c!, middle: logged.a! + logged.c! }
  t.equal(logged.a! + logged.b! + logged.c!, 320, '320 events in the log')
  for (const [name, count] of Object.entries(expected)) {
    t.same(await tally(first.database.db, name), { handled: count, seen: count }, `${name}: every event of its types handled, once`)
  }
  await eventually(async () => reacted.length, (n) => n >= logged.c!)
  t.equal(new Set(reacted).size, logged.c!, 'the reactor saw every c event')
  for (const engine of engines) await engine.stop()
})
