import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import { WrongExpectedVersion, type AppendRequest, type EventMetadata, type NewEvent } from '../../infra/eventStore/eventStore.ts'
import { eventStoreMigrations, POSITIONS_PER_TRANSACTION, PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * Appends that wait while an earlier one is on its way travel together in one transaction
 * (es_append_batch): each still succeeds or fails on its own.
 */

const meta: EventMetadata = { tenantId: null, userId: null, correlationId: 'c', causationId: null, ip: null, userAgent: null, occurredAt: '2026-01-01T00:00:00Z', schemaVersion: 1 }
const event = (type: string): NewEvent => ({ id: randomUUID(), type, data: { type }, metadata: meta })
const transactionOf = (position: number): number => Math.floor(position / POSITIONS_PER_TRANSACTION)

t.test('appends batched together succeed or fail each on its own', async (t) => {
  const testDatabase = await createTestDatabase('append_batches')
  const database = await openSqlDatabase({ databaseUrl: testDatabase.url, dataDir: 'memory://', poolSize: 4, applicationName: 'append-batches' })
  t.teardown(async () => {
    await database.close()
    await testDatabase.drop()
  })
  await migrateToLatest(database.db, eventStoreMigrations)
  // one batch on its way at a time: whatever is appended while it travels leaves as the next batch
  const store = await PostgresEventStore.open(database, { appendCallsInFlight: 1 })
  t.teardown(() => store.close())

  const existing = await store.append([{ streamName: 'batch-existing', expectedVersion: 'no_stream', events: [event('First')] }])
  const repeated = event('Repeated')
  await store.append([{ streamName: 'batch-repeated', expectedVersion: 'no_stream', events: [repeated] }])

  // the first goes out alone; the four after it wait for it and leave together
  const [lead, ok1, conflict, duplicate, ok2] = await Promise.allSettled([
    store.append([{ streamName: 'batch-lead', expectedVersion: 'no_stream', events: [event('Lead')] }]),
    store.append([{ streamName: 'batch-a', expectedVersion: 'no_stream', events: [event('A1'), event('A2')] }]),
    store.append([{ streamName: 'batch-existing', expectedVersion: 'no_stream', events: [event('Conflict')] }]),
    store.append([{ streamName: 'batch-repeated', expectedVersion: 'no_stream', events: [repeated] }]),
    store.append([
      { streamName: 'batch-existing', expectedVersion: 0, events: [event('Second')] },
      { streamName: 'batch-b', expectedVersion: 'any', events: [event('B1')] },
    ]),
  ])

  t.equal(lead.status, 'fulfilled')
  t.equal(ok1.status, 'fulfilled', 'an append beside a failing one is written')
  t.equal(ok2.status, 'fulfilled', 'a multi-stream append beside a failing one is written')
  t.equal(conflict.status, 'rejected')
  t.ok(conflict.status === 'rejected' && conflict.reason instanceof WrongExpectedVersion, 'the conflicting append gets its WrongExpectedVersion')
  t.ok(duplicate.status === 'fulfilled' && duplicate.value.duplicate, 'an append of recorded ids answers as a duplicate')
  if (ok1.status !== 'fulfilled' || ok2.status !== 'fulfilled' || lead.status !== 'fulfilled') return

  t.equal(transactionOf(ok1.value.lastPosition), transactionOf(ok2.value.lastPosition), 'the waiting appends were committed in one transaction')
  t.not(transactionOf(lead.value.lastPosition), transactionOf(ok1.value.lastPosition), 'apart from the one on its way before them')
  t.same(ok1.value.streams, [{ streamName: 'batch-a', version: 1 }])
  t.same(ok2.value.streams, [
    { streamName: 'batch-existing', version: 1 },
    { streamName: 'batch-b', version: 0 },
  ])

  const existingStream = await store.readStream('batch-existing')
  t.same(existingStream.events.map((e) => e.type), ['First', 'Second'], 'the refused append left nothing')
  t.ok(existingStream.events[0]!.position === existing.lastPosition)
  const a = await store.readStream('batch-a')
  t.same(a.events.map((e) => [e.type, e.streamVersion]), [['A1', 0], ['A2', 1]])
  const all = await store.readAll({ after: 0 })
  const positions = all.events.map((e) => e.position)
  t.same(positions, [...positions].sort((x, y) => x - y), 'the global log is in position order')
  t.equal(new Set(positions).size, positions.length, 'no position twice')
  t.equal(all.events.length, 7, 'every written event is in the log once')
})

t.test('another store on the same database hears of an append through NOTIFY', async (t) => {
  const testDatabase = await createTestDatabase('append_notify')
  const first = await openSqlDatabase({ databaseUrl: testDatabase.url, dataDir: 'memory://', poolSize: 2, applicationName: 'append-notify-1' })
  const second = await openSqlDatabase({ databaseUrl: testDatabase.url, dataDir: 'memory://', poolSize: 2, applicationName: 'append-notify-2' })
  t.teardown(async () => {
    await first.close()
    await second.close()
    await testDatabase.drop()
  })
  await migrateToLatest(first.db, eventStoreMigrations)
  const writer = await PostgresEventStore.open(first)
  const reader = await PostgresEventStore.open(second)
  t.teardown(async () => {
    await writer.close()
    await reader.close()
  })
  const heardByWriter: number[] = []
  writer.onAppended((position) => heardByWriter.push(position))
  let heard!: (position: number) => void
  const heardByReader = new Promise<number>((resolve) => (heard = resolve))
  reader.onAppended((position) => heard(position))

  const result = await writer.append([{ streamName: 'notify-1', expectedVersion: 'no_stream', events: [event('Told')] }])
  t.same(heardByWriter, [result.lastPosition], 'the writer’s own listeners are woken as the append returns')
  t.equal(await heardByReader, result.lastPosition, 'the other store is woken with the append’s position')
})

t.test('es_append_set gives each append of a mixed batch its own outcome, the common ones decided as a set', async (t) => {
  const testDatabase = await createTestDatabase('append_set')
  const database = await openSqlDatabase({ databaseUrl: testDatabase.url, dataDir: 'memory://', poolSize: 2, applicationName: 'append-set' })
  const client = new pg.Client({ connectionString: testDatabase.url })
  t.teardown(async () => {
    await client.end().catch(() => undefined)
    await database.close()
    await testDatabase.drop()
  })
  await migrateToLatest(database.db, eventStoreMigrations)
  await client.connect()
  const notices: string[] = []
  client.on('notice', (notice) => notices.push(notice.message ?? ''))
  const row = (id = randomUUID(), type = 'E') => ({ id, type, data: { type }, metadata: { ...meta, tenantId: 'tenant-1' } })
  // aside: the appends naming a stream or an id that an earlier one names, as the store marks them
  const call = async (batch: unknown, aside: number[] = []): Promise<BatchOutcome[]> =>
    (await client.query<BatchOutcome>('select * from es_append_set($1::jsonb, $2::int[])', [JSON.stringify(batch), aside])).rows

  const recorded = row()
  const halfRecorded = row()
  await call([
    [{ stream: 'set-existing', expected: -1, events: [row(), row()] }],
    [{ stream: 'set-other', expected: -1, events: [row()] }],
    [{ stream: 'set-recorded', expected: -1, events: [recorded, halfRecorded] }],
    [{ stream: 'set-stale', expected: -1, events: [row()] }],
  ])
  t.same(notices, [], 'a batch without races is written as a set')

  const good = [row('a5d1b6c8-0c43-4b8e-9f3a-1a2b3c4d5e60', 'Good')]
  const rows = await call([
    /* 0 */ [{ stream: 'set-existing', expected: 1, events: good }],
    /* 1 */ [
      { stream: 'set-new', expected: -1, events: [row(), row()] },
      { stream: 'set-other', expected: -2, events: [row()] },
    ],
    /* 2 */ [{ stream: 'set-stale', expected: 7, events: [row()] }],
    /* 3 */ [{ stream: 'set-recorded', expected: -1, events: [recorded, halfRecorded] }],
    /* 4 */ [{ stream: 'set-recorded', expected: 1, events: [recorded, row()] }],
    /* 5 */ [{ stream: 'set-missing', expected: -3, events: [row()] }],
    /* 6 */ [{ stream: 'set-existing', expected: 2, events: [row()] }],
    /* 7 */ [{ stream: 'set-third', expected: -1, events: [row()] }, { stream: 'set-existing', expected: 0, events: [row()] }],
  ], [4, 6, 7])
  const of = (item: number): BatchOutcome[] => rows.filter((r) => r.o_item === item)
  const outcome = (item: number): Array<Record<string, unknown>> =>
    of(item).map((r) => (r.o_error ? { error: r.o_error, detail: r.o_detail ? JSON.parse(r.o_detail) : null } : { stream: r.o_stream, version: Number(r.o_version), duplicate: r.o_duplicate }))

  t.same(outcome(0), [{ stream: 'set-existing', version: 2, duplicate: false }], 'a good append is written')
  t.same(outcome(1), [{ stream: 'set-new', version: 1, duplicate: false }, { stream: 'set-other', version: 1, duplicate: false }], 'a good multi-stream append is written')
  t.same(outcome(2), [{ error: 'MF001', detail: { stream: 'set-stale', expected: 7, actual: 0 } }], 'a wrong expected version is refused with the stream and its version')
  t.same(outcome(3), [{ stream: 'set-recorded', version: 1, duplicate: true }], 'an append of recorded ids answers as a duplicate')
  t.same(outcome(4).map((o) => o.error), ['MF002'], 'an append of some recorded ids is refused')
  t.same(outcome(5), [{ error: 'MF001', detail: { stream: 'set-missing', expected: -3, actual: -1 } }], 'stream_exists on no stream is refused')
  t.same(outcome(6), [{ stream: 'set-existing', version: 3, duplicate: false }], 'a second append to a stream of the batch follows the first')
  t.same(outcome(7), [{ error: 'MF001', detail: { stream: 'set-existing', expected: 0, actual: 3 } }], 'a multi-stream append is refused whole')
  t.same(notices, [], 'the set was not rolled back')

  const streams = (await client.query<{ stream_name: string; version: string }>('select stream_name, version from es_streams order by stream_name')).rows
  t.same(
    streams.map((s) => [s.stream_name, Number(s.version)]),
    [['set-existing', 3], ['set-new', 1], ['set-other', 1], ['set-recorded', 1], ['set-stale', 0]],
    'refused appends created or moved no stream',
  )
  const events = (await client.query<{ position: string; stream_name: string; stream_version: string; event_type: string; tenant_id: string }>(
    'select position, stream_name, stream_version, event_type, tenant_id from es_events order by position',
  )).rows
  t.equal(events.length, 11, 'the written events and no others')
  const existing = events.filter((e) => e.stream_name === 'set-existing')
  t.same(existing.map((e) => Number(e.stream_version)), [0, 1, 2, 3], 'a stream written twice in a batch has its versions in position order')
  t.equal(existing[2]!.event_type, 'Good')
  t.ok(events.every((e) => e.tenant_id === 'tenant-1'), 'the tenant is taken from the metadata')
  const fromBatch = events.slice(6).map((e) => transactionOf(Number(e.position)))
  t.equal(new Set(fromBatch).size, 1, 'the batch was one transaction')

  // a repeat the caller did not set aside breaks the set's unique keys: it is rolled back, and
  // every append goes one at a time, each with its own outcome still
  const unmarked = await call([
    [{ stream: 'set-unmarked', expected: -2, events: [row()] }],
    [{ stream: 'set-unmarked', expected: -2, events: [row()] }],
  ])
  t.ok(notices.some((n) => n.includes('rolled back')), 'the set was rolled back')
  t.same(
    unmarked.sort((x, y) => x.o_item - y.o_item).map((r) => [r.o_item, r.o_version === null ? null : Number(r.o_version), r.o_error]),
    [
      [0, 0, null],
      [1, 1, null],
    ],
    'an unmarked repeat still gets its own outcome',
  )
})

t.test('the set falls back to one append at a time when a concurrent transaction creates one of its streams', async (t) => {
  const testDatabase = await createTestDatabase('append_set_race')
  const database = await openSqlDatabase({ databaseUrl: testDatabase.url, dataDir: 'memory://', poolSize: 2, applicationName: 'append-set-race' })
  const first = new pg.Client({ connectionString: testDatabase.url })
  const second = new pg.Client({ connectionString: testDatabase.url, application_name: 'append-set-racer' })
  t.teardown(async () => {
    await first.end().catch(() => undefined)
    await second.end().catch(() => undefined)
    await database.close()
    await testDatabase.drop()
  })
  await migrateToLatest(database.db, eventStoreMigrations)
  await first.connect()
  await second.connect()
  const notices: string[] = []
  second.on('notice', (notice) => notices.push(notice.message ?? ''))
  const row = () => ({ id: randomUUID(), type: 'E', data: {}, metadata: meta })

  // the first transaction creates race-a and stays open; the batch finds no race-a, and its insert
  // of the stream row waits for the first to commit (committed once the batch is seen waiting)
  await first.query('begin')
  await first.query('select * from es_append($1::jsonb)', [JSON.stringify([{ stream: 'race-a', expected: -1, events: [row()] }])])
  const batch = second.query<BatchOutcome>('select * from es_append_set($1::jsonb, $2::int[])', [
    JSON.stringify([
      [{ stream: 'race-a', expected: -2, events: [row()] }],
      [{ stream: 'race-b', expected: -1, events: [row()] }],
      [{ stream: 'race-a', expected: -1, events: [row()] }],
    ]),
    [2],
  ])
  const secondPid = (await first.query<{ pid: number }>('select pid from pg_stat_activity where application_name = $1', ['append-set-racer'])).rows[0]?.pid
  for (let waited = 0; waited < 10_000; waited += 20) {
    const { rows: waiting } = await database.db.executeQuery<{ wait_event_type: string | null }>(
      sql`select wait_event_type from pg_stat_activity where pid = ${secondPid}`.compile(database.db),
    )
    if (waiting[0]?.wait_event_type === 'Lock') break
    await sleep(20)
  }
  await first.query('commit')
  const rows = (await batch).rows.sort((x, y) => x.o_item - y.o_item)
  t.ok(notices.some((n) => n.includes('rolled back')), 'the set was rolled back')
  t.same(
    rows.map((r) => [r.o_item, r.o_stream, r.o_version === null ? null : Number(r.o_version), r.o_error]),
    [
      [0, 'race-a', 1, null],
      [1, 'race-b', 0, null],
      [2, null, null, 'MF001'],
    ],
    'each append still got its own outcome',
  )
  const versions = (await second.query<{ stream_name: string; stream_version: string }>('select stream_name, stream_version from es_events order by position')).rows
  t.same(versions.map((v) => [v.stream_name, Number(v.stream_version)]), [['race-a', 0], ['race-a', 1], ['race-b', 0]], 'nothing lost, nothing twice')
})

t.test('many writers in two processes, on streams of their own and shared ones, lose and duplicate nothing', async (t) => {
  const testDatabase = await createTestDatabase('append_set_load')
  const databases = await Promise.all(
    [1, 2].map((n) => openSqlDatabase({ databaseUrl: testDatabase.url, dataDir: 'memory://', poolSize: 6, applicationName: `append-set-load-${n}` })),
  )
  t.teardown(async () => {
    for (const database of databases) await database.close()
    await testDatabase.drop()
  })
  await migrateToLatest(databases[0]!.db, eventStoreMigrations)
  const stores = await Promise.all(databases.map((database) => PostgresEventStore.open(database)))
  t.teardown(async () => {
    for (const store of stores) await store.close()
  })

  const WRITERS = 24
  const ROUNDS = 25
  const SHARED = ['load-hot1', 'load-hot2', 'load-hot3']
  const acknowledged = new Map<string, string>() // event id -> stream
  const refusedIds = new Set<string>()
  let conflicts = 0
  let duplicates = 0
  const remember = (requests: AppendRequest[]): void => {
    for (const request of requests) for (const e of request.events) acknowledged.set(e.id, request.streamName)
  }

  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      const store = stores[writer % stores.length]!
      const own = `load-own${writer}`
      let ownVersion = -1
      for (let round = 0; round < ROUNDS; round++) {
        const hot = SHARED[(writer + round) % SHARED.length]!
        const kind = round % 4
        if (kind === 0 || kind === 2) {
          // its own stream, the exact version: never refused
          const requests: AppendRequest[] = [{ streamName: own, expectedVersion: ownVersion === -1 ? 'no_stream' : ownVersion, events: [event('Own')] }]
          const result = await store.append(requests)
          ownVersion = result.streams[0]!.version
          remember(requests)
        } else if (kind === 1) {
          // a shared stream at the version just read: refused when another writer got there first
          const { version } = await store.readStream(hot, { direction: 'backward', limit: 1 })
          const requests: AppendRequest[] = [{ streamName: hot, expectedVersion: version === -1 ? 'no_stream' : version, events: [event('Hot'), event('Hot')] }]
          try {
            await store.append(requests)
            remember(requests)
          } catch (error) {
            if (!(error instanceof WrongExpectedVersion)) throw error
            conflicts++
            for (const e of requests[0]!.events) refusedIds.add(e.id)
          }
        } else {
          // its own stream and a shared one together, the shared one at any version; sent twice at
          // once, as a retry racing the first attempt would be
          const requests: AppendRequest[] = [
            { streamName: own, expectedVersion: 'any', events: [event('Own')] },
            { streamName: hot, expectedVersion: 'any', events: [event('Hot')] },
          ]
          const [a, b] = await Promise.all([store.append(requests), store.append(requests)])
          t.equal(Number(a.duplicate) + Number(b.duplicate), 1, 'one of two identical appends writes')
          duplicates++
          ownVersion = Math.max(a.streams[0]!.version, b.streams[0]!.version)
          remember(requests)
        }
      }
    }),
  )

  const { rows } = await sql<{ event_id: string; stream_name: string; stream_version: number; position: number }>`
    select event_id, stream_name, stream_version, position from es_events order by stream_name, stream_version`.execute(databases[0]!.db)
  t.equal(rows.length, acknowledged.size, 'as many events recorded as were acknowledged')
  t.same(rows.filter((r) => acknowledged.get(r.event_id) !== r.stream_name), [], 'every recorded event was acknowledged, on its stream')
  t.same(rows.filter((r) => refusedIds.has(r.event_id)), [], 'a refused append wrote nothing')
  t.ok(conflicts > 0, `writers on shared streams did collide (${conflicts} refused)`)
  t.ok(duplicates > 0)
  const byStream = new Map<string, typeof rows>()
  for (const r of rows) byStream.set(r.stream_name, [...(byStream.get(r.stream_name) ?? []), r])
  const broken: string[] = []
  for (const [name, events] of byStream) {
    if (!events.every((e, i) => e.stream_version === i)) broken.push(`${name}: versions with a gap`)
    if (!events.every((e, i) => i === 0 || e.position > events[i - 1]!.position)) broken.push(`${name}: positions out of version order`)
  }
  t.same(broken, [], 'each stream has versions 0..n without gap, in position order')
  const streamRows = await sql<{ stream_name: string; version: number }>`select stream_name, version from es_streams`.execute(databases[0]!.db)
  t.same(
    streamRows.rows.filter((s) => s.version !== (byStream.get(s.stream_name)?.length ?? 0) - 1).map((s) => s.stream_name),
    [],
    "each stream row's version is its last event's",
  )
})

interface BatchOutcome {
  o_item: number
  o_stream: string | null
  o_version: string | number | null
  o_position: string | number | null
  o_duplicate: boolean | null
  o_error: string | null
  o_message: string | null
  o_detail: string | null
  o_constraint: string | null
}
