import { randomUUID } from 'node:crypto'
import t from 'tap'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import { WrongExpectedVersion, type EventMetadata, type NewEvent } from '../../infra/eventStore/eventStore.ts'
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
