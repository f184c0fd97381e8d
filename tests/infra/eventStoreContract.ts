import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import {
  InvalidAppend,
  WrongExpectedVersion,
  streamCategory,
  type AppendRequest,
  type AppendResult,
  type EventMetadata,
  type EventStore,
  type ExpectedVersion,
  type NewEvent,
  type RecordedEvent,
} from '../../infra/eventStore/eventStore.ts'

/**
 * The contract every EventStore adapter must pass. It is not a test file: an adapter's test file
 * calls `eventStoreContract(t, name, factory)` with a factory that opens a fresh, empty store.
 */

export interface ContractSubject {
  store: EventStore
  close(): Promise<void>
  /**
   * Optional, for engines where a later position can commit before an earlier one: run the
   * requests as one append inside a transaction that stays open `holdMs` before it commits.
   * `overtaken` tells whether another writer committed a higher position while this one was open
   * (the race the global-log readers must survive actually happened).
   */
  appendInSlowTransaction?(requests: AppendRequest[], holdMs: number): Promise<{ lastPosition: number; overtaken: boolean }>
}

export type ContractFactory = () => Promise<ContractSubject>

export interface ContractOptions {
  /** the adapter runs appends truly in parallel (several connections): the races must then be observed */
  parallel?: boolean
}

const TENANT_A = 'tenant-a'
const TENANT_B = 'tenant-b'

function metadata(tenantId: string | null = TENANT_A): EventMetadata {
  return {
    tenantId,
    userId: 'user-1',
    correlationId: randomUUID(),
    causationId: null,
    ip: '192.0.2.10',
    userAgent: 'contract-test',
    occurredAt: '2026-03-10T09:00:00.000Z',
    schemaVersion: 1,
  }
}

function newEvent(type = 'Tested', data: Record<string, unknown> = {}, tenantId: string | null = TENANT_A): NewEvent {
  return { id: randomUUID(), type, data, metadata: metadata(tenantId) }
}

function events(count: number, type = 'Tested', tenantId: string | null = TENANT_A): NewEvent[] {
  return Array.from({ length: count }, (_, n) => newEvent(type, { n }, tenantId))
}

/** `category-<uuid>`: the id itself contains dashes, the category never does */
function stream(category = 'test'): string {
  return `${category}-${randomUUID()}`
}

function range(from: number, toExclusive: number): number[] {
  return Array.from({ length: Math.max(0, toExclusive - from) }, (_, i) => from + i)
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  return undefined
}

async function expectWrongVersion(t: Test, promise: Promise<unknown>, streamName: string, actual: number, message: string): Promise<void> {
  const error = await failure(promise)
  if (!(error instanceof WrongExpectedVersion)) {
    t.fail(`${message}: expected WrongExpectedVersion, got ${error === undefined ? 'success' : String(error)}`)
    return
  }
  t.equal(error.streamName, streamName, `${message}: names the stream`)
  t.equal(error.actual, actual, `${message}: reports the actual version`)
}

async function expectInvalidAppend(t: Test, promise: Promise<unknown>, message: string): Promise<void> {
  const error = await failure(promise)
  t.ok(error instanceof InvalidAppend, `${message}: expected InvalidAppend, got ${error === undefined ? 'success' : String(error)}`)
}

function isStrictlyIncreasing(values: readonly number[]): boolean {
  return values.every((value, i) => i === 0 || value > values[i - 1]!)
}

/** Polls until `accept` holds (or the time is up) and returns the last value seen. */
async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (accept(value) || Date.now() > deadline) return value
    await sleep(10)
  }
}

/**
 * Waits until a global-log reader can see `position`. A store may hold back positions while
 * older transactions are still open: on PostgreSQL any transaction of the server counts, even one
 * in another database (a CREATE DATABASE of a test file running alongside holds readers for seconds).
 */
async function visible(t: Test, store: EventStore, position: number): Promise<void> {
  const slice = await eventually(() => store.readAll({ after: position - 1, limit: 1 }), (slice) => slice.scannedTo >= position)
  t.ok(slice.scannedTo >= position, `position ${position} becomes readable (scanned to ${slice.scannedTo})`)
  t.ok(slice.events.length === 0 || slice.events[0]!.position === position, 'the next readable event is the awaited one')
  t.ok((await store.headPosition()) >= position, 'and the head is at or past it')
}

async function readWholeLog(store: EventStore): Promise<RecordedEvent[]> {
  const all: RecordedEvent[] = []
  let after = 0
  for (;;) {
    const slice = await store.readAll({ after, limit: 500 })
    all.push(...slice.events)
    if (slice.events.length === 0) return all
    after = slice.scannedTo
  }
}

/** What a refused append must leave untouched: the whole global log and the head. */
async function logSnapshot(store: EventStore): Promise<{ head: number; events: { id: string; position: number; stream: string; version: number }[] }> {
  const events = (await readWholeLog(store)).map((e) => ({ id: e.id, position: e.position, stream: e.streamName, version: e.streamVersion }))
  return { head: await store.headPosition(), events }
}

export function eventStoreContract(t: Test, name: string, factory: ContractFactory, options: ContractOptions = {}) {
  const open = async (t: Test): Promise<ContractSubject> => {
    const subject = await factory()
    t.teardown(() => subject.close())
    return subject
  }

  return t.test(`event store contract: ${name}`, async (t) => {
    t.test('append to a new stream', async (t) => {
      const { store } = await open(t)
      t.equal(await store.headPosition(), 0, 'an empty store has head 0')

      const orderStream = stream('order')
      const first = events(3, 'OrderPlaced')
      const result = await store.append([{ streamName: orderStream, expectedVersion: 'no_stream', events: first }])
      t.same(result.streams, [{ streamName: orderStream, version: 2 }], 'three events: the stream is at version 2')
      t.equal(result.duplicate, false)
      t.ok(Number.isInteger(result.lastPosition) && result.lastPosition > 0, 'a positive integer position')

      const slice = await store.readStream(orderStream)
      t.equal(slice.version, 2)
      t.same(slice.events.map((e) => e.streamVersion), [0, 1, 2], 'versions start at 0')
      t.same(slice.events.map((e) => e.id), first.map((e) => e.id))
      t.ok(isStrictlyIncreasing(slice.events.map((e) => e.position)), 'positions strictly increase within an append')
      t.equal(slice.events.at(-1)?.position, result.lastPosition, 'lastPosition is the position of the last event')
      for (const [i, recorded] of slice.events.entries()) {
        const sent = first[i]!
        t.equal(recorded.streamName, orderStream)
        t.equal(recorded.type, sent.type)
        t.same(recorded.data, sent.data)
        t.same(recorded.metadata, sent.metadata, 'metadata round-trips')
        t.ok(recorded.recordedAt instanceof Date && !Number.isNaN(recorded.recordedAt.getTime()), 'recordedAt is a valid Date')
      }

      const second = events(2, 'OrderShipped')
      const next = await store.append([{ streamName: orderStream, expectedVersion: 2, events: second }])
      t.same(next.streams, [{ streamName: orderStream, version: 4 }])
      t.ok(next.lastPosition > result.lastPosition, 'a later append gets a higher position')
      const after = await store.readStream(orderStream)
      t.same(after.events.map((e) => e.streamVersion), [0, 1, 2, 3, 4])
      t.ok(isStrictlyIncreasing(after.events.map((e) => e.position)), 'positions increase with versions')

      const left = stream('left')
      const right = stream('right')
      const multi = await store.append([
        { streamName: left, expectedVersion: 'no_stream', events: events(2) },
        { streamName: right, expectedVersion: 'no_stream', events: events(3) },
      ])
      t.same(multi.streams, [{ streamName: left, version: 1 }, { streamName: right, version: 2 }], 'one version per stream, in request order')
      const leftEvents = (await store.readStream(left)).events
      const rightEvents = (await store.readStream(right)).events
      const positions = [...leftEvents, ...rightEvents].map((e) => e.position)
      t.ok(isStrictlyIncreasing(positions), 'positions strictly increase over the whole multi-stream append, in request order')
      t.equal(multi.lastPosition, Math.max(...positions))
      t.ok(Math.min(...positions) > next.lastPosition)

      await visible(t, store, multi.lastPosition)
      t.equal(await store.headPosition(), multi.lastPosition, 'head is the last written position once nothing is in flight')
    })

    t.test('expected version', async (t) => {
      const { store } = await open(t)
      const s = stream('account')
      const missing = stream('account')
      await store.append([{ streamName: s, expectedVersion: 'no_stream', events: events(3) }])

      const exact = await store.append([{ streamName: s, expectedVersion: 2, events: events(1) }])
      t.same(exact.streams, [{ streamName: s, version: 3 }], 'the exact version succeeds')

      await expectWrongVersion(t, store.append([{ streamName: s, expectedVersion: 1, events: events(1) }]), s, 3, 'a stale version')
      await expectWrongVersion(t, store.append([{ streamName: s, expectedVersion: 7, events: events(1) }]), s, 3, 'a future version')
      await expectWrongVersion(t, store.append([{ streamName: s, expectedVersion: 'no_stream', events: events(1) }]), s, 3, 'no_stream on an existing stream')
      await expectWrongVersion(t, store.append([{ streamName: missing, expectedVersion: 'stream_exists', events: events(1) }]), missing, -1, 'stream_exists on a missing stream')
      await expectWrongVersion(t, store.append([{ streamName: missing, expectedVersion: 0, events: events(1) }]), missing, -1, 'a version on a missing stream')

      const error = await failure(store.append([{ streamName: s, expectedVersion: 0, events: events(1) }]))
      t.ok(error instanceof WrongExpectedVersion && error.expected === 0, 'the error carries the expected version')

      const exists = await store.append([{ streamName: s, expectedVersion: 'stream_exists', events: events(2) }])
      t.same(exists.streams, [{ streamName: s, version: 5 }], 'stream_exists on an existing stream succeeds')
      const any = await store.append([{ streamName: s, expectedVersion: 'any', events: events(1) }])
      t.same(any.streams, [{ streamName: s, version: 6 }], "'any' appends to an existing stream")
      const anyNew = await store.append([{ streamName: missing, expectedVersion: 'any', events: events(2) }])
      t.same(anyNew.streams, [{ streamName: missing, version: 1 }], "'any' creates a missing stream")

      const slice = await store.readStream(s)
      t.equal(slice.version, 6)
      t.same(slice.events.map((e) => e.streamVersion), range(0, 7), 'only the accepted appends were written')
      t.same((await store.readStream(missing)).events.map((e) => e.streamVersion), [0, 1])
    })

    t.test('a refused append writes nothing', async (t) => {
      const { store } = await open(t)
      const s = stream('ledger')
      const missing = stream('ledger')
      const written = await store.append([{ streamName: s, expectedVersion: 'no_stream', events: events(2) }])
      await visible(t, store, written.lastPosition)
      const before = await logSnapshot(store)
      const streamBefore = await store.readStream(s)

      await expectWrongVersion(t, store.append([{ streamName: s, expectedVersion: 0, events: events(3) }]), s, 1, 'wrong version')
      await expectWrongVersion(t, store.append([{ streamName: s, expectedVersion: 'no_stream', events: events(3) }]), s, 1, 'no_stream')
      await expectWrongVersion(t, store.append([{ streamName: missing, expectedVersion: 'stream_exists', events: events(3) }]), missing, -1, 'stream_exists')
      await expectWrongVersion(t, store.append([{ streamName: missing, expectedVersion: 4, events: events(3) }]), missing, -1, 'version of a missing stream')
      await expectInvalidAppend(t, store.append([]), 'an append of nothing')
      await expectInvalidAppend(t, store.append([{ streamName: missing, expectedVersion: 'any', events: [] }]), 'a stream with no events')
      await expectInvalidAppend(
        t,
        store.append([
          { streamName: missing, expectedVersion: 'any', events: events(1) },
          { streamName: missing, expectedVersion: 'any', events: events(1) },
        ]),
        'the same stream twice in one append',
      )

      t.same(await store.readStream(s), streamBefore, 'the stream is unchanged')
      t.same(await store.readStream(missing), { version: -1, events: [] }, 'the missing stream was not created')
      t.same(await logSnapshot(store), before, 'the global log is unchanged')

      const later = await store.append([{ streamName: s, expectedVersion: 1, events: events(1) }])
      t.same(later.streams, [{ streamName: s, version: 2 }], 'the stream continues at the next version: refusals left no gap')
    })

    t.test('idempotent appends', async (t) => {
      const { store } = await open(t)
      const s = stream('payment')
      const batch = events(2, 'PaymentTaken')
      const request: AppendRequest = { streamName: s, expectedVersion: 'no_stream', events: batch }
      const original = await store.append([request])
      await visible(t, store, original.lastPosition)
      const before = await logSnapshot(store)

      const again = await store.append([request])
      t.equal(again.duplicate, true, 'the same events again are a duplicate')
      t.equal(again.lastPosition, original.lastPosition, 'with the original position')
      t.same(again.streams, [{ streamName: s, version: 1 }], 'and the version the original append left')
      const anyAgain = await store.append([{ ...request, expectedVersion: 'any' }])
      t.equal(anyAgain.duplicate, true, "a duplicate with 'any' too")
      t.equal(anyAgain.lastPosition, original.lastPosition)
      t.same(await logSnapshot(store), before, 'duplicates write nothing')
      t.same((await store.readStream(s)).events.map((e) => e.id), batch.map((e) => e.id))

      const more = await store.append([{ streamName: s, expectedVersion: 1, events: events(1) }])
      const late = await store.append([request])
      t.equal(late.duplicate, true, 'a late retry after further appends is still a duplicate')
      t.equal(late.lastPosition, original.lastPosition)
      t.equal((await store.readStream(s)).version, 2, 'and wrote nothing')
      await visible(t, store, more.lastPosition)

      const beforeOverlap = await logSnapshot(store)
      const fresh = newEvent('PaymentTaken')
      await expectInvalidAppend(t, store.append([{ streamName: s, expectedVersion: 'any', events: [batch[1]!, fresh] }]), 'a partial overlap of ids')
      const other = stream('payment')
      await expectInvalidAppend(
        t,
        store.append([
          { streamName: other, expectedVersion: 'no_stream', events: [newEvent()] },
          { streamName: s, expectedVersion: 'any', events: [batch[0]!] },
        ]),
        'a partial overlap spread over two streams',
      )
      t.same(await logSnapshot(store), beforeOverlap, 'a refused overlap writes nothing')
      t.equal((await store.readStream(other)).version, -1)
      t.notOk((await readWholeLog(store)).some((e) => e.id === fresh.id), 'the new id of the overlap was not recorded')

      const a = stream('transfer')
      const b = stream('transfer')
      const pair: AppendRequest[] = [
        { streamName: a, expectedVersion: 'no_stream', events: events(1) },
        { streamName: b, expectedVersion: 'no_stream', events: events(2) },
      ]
      const pairResult = await store.append(pair)
      const pairAgain = await store.append(pair)
      t.equal(pairAgain.duplicate, true, 'a multi-stream append repeated is a duplicate')
      t.equal(pairAgain.lastPosition, pairResult.lastPosition)
      t.same(pairAgain.streams, [{ streamName: a, version: 0 }, { streamName: b, version: 1 }], 'versions in request order')
      t.equal((await store.readStream(b)).events.length, 2)
    })

    t.test('a multi-stream append is atomic', async (t) => {
      const { store } = await open(t)
      const a = stream('alpha')
      const b = stream('beta')
      const c = stream('gamma')
      const setUp = await store.append([
        { streamName: a, expectedVersion: 'no_stream', events: events(1) },
        { streamName: b, expectedVersion: 'no_stream', events: events(2) },
      ])
      await visible(t, store, setUp.lastPosition)
      const head = await store.headPosition()
      const before = await logSnapshot(store)

      await expectWrongVersion(
        t,
        store.append([
          { streamName: a, expectedVersion: 0, events: events(2) },
          { streamName: b, expectedVersion: 5, events: events(2) },
          { streamName: c, expectedVersion: 'no_stream', events: events(2) },
        ]),
        b,
        1,
        'the second stream is behind',
      )
      await expectWrongVersion(
        t,
        store.append([
          { streamName: c, expectedVersion: 'no_stream', events: events(2) },
          { streamName: a, expectedVersion: 0, events: events(2) },
          { streamName: b, expectedVersion: 'no_stream', events: events(2) },
        ]),
        b,
        1,
        'the last stream exists already',
      )
      await expectWrongVersion(
        t,
        store.append([
          { streamName: a, expectedVersion: 'stream_exists', events: events(1) },
          { streamName: c, expectedVersion: 'stream_exists', events: events(1) },
        ]),
        c,
        -1,
        'the second stream is missing',
      )
      t.equal((await store.readStream(a)).version, 0, 'the first stream got nothing')
      t.equal((await store.readStream(b)).version, 1, 'the second stream got nothing')
      t.same(await store.readStream(c), { version: -1, events: [] }, 'the new stream was not created')
      t.same(await logSnapshot(store), before, 'the global log is unchanged')
      t.equal(await store.headPosition(), head)

      const ok = await store.append([
        { streamName: a, expectedVersion: 0, events: events(2) },
        { streamName: b, expectedVersion: 1, events: events(1) },
        { streamName: c, expectedVersion: 'no_stream', events: events(1) },
      ])
      t.same(ok.streams.map((s) => s.version), [2, 2, 0], 'the corrected append writes all three streams')
    })

    t.test('readStream', async (t) => {
      const { store } = await open(t)
      const s = stream('doc')
      const noise = stream('doc')
      const rich = { text: 'Habari ya asubuhi — ünïcödé ✓', nested: { list: [1, 2.5, null, true], empty: {} }, big: 9007199254740991 }
      const written: NewEvent[] = []
      for (const [i, size] of [3, 4, 3].entries()) {
        const batch = events(size)
        written.push(...batch)
        await store.append([
          { streamName: s, expectedVersion: i === 0 ? 'no_stream' : written.length - size - 1, events: batch },
          { streamName: noise, expectedVersion: 'any', events: events(1) },
        ])
      }
      const withData = newEvent('Rich', rich)
      await store.append([{ streamName: s, expectedVersion: 9, events: [withData] }])
      written.push(withData)

      const versions = async (options: Parameters<EventStore['readStream']>[1]): Promise<number[]> =>
        (await store.readStream(s, options)).events.map((e) => e.streamVersion)

      const all = await store.readStream(s)
      t.equal(all.version, 10)
      t.same(all.events.map((e) => e.id), written.map((e) => e.id), 'forward: every event in order, no other stream')
      t.ok(all.events.every((e) => e.streamName === s))
      t.same(all.events.at(-1)?.data, rich, 'JSON data round-trips')
      t.same(await versions({ fromVersion: 3, limit: 4 }), [3, 4, 5, 6], 'forward from a version with a limit')
      t.same(await versions({ fromVersion: 8 }), [8, 9, 10])
      t.same(await versions({ limit: 2 }), [0, 1])
      t.same(await versions({ direction: 'backward' }), range(0, 11).reverse(), 'backward from the end')
      t.same(await versions({ direction: 'backward', limit: 3 }), [10, 9, 8])
      t.same(await versions({ direction: 'backward', fromVersion: 5, limit: 3 }), [5, 4, 3], 'backward from a version with a limit')
      t.same(await versions({ direction: 'backward', fromVersion: 1 }), [1, 0])
      const past = await store.readStream(s, { fromVersion: 11 })
      t.same(past, { version: 10, events: [] }, 'forward past the end: no events, but the version')
      const backwardSlice = await store.readStream(s, { direction: 'backward', limit: 1 })
      t.equal(backwardSlice.version, 10, 'a short read still reports the stream version')
      t.equal(backwardSlice.events[0]?.id, withData.id)

      const missing = stream('doc')
      t.same(await store.readStream(missing), { version: -1, events: [] }, 'a missing stream: version -1, no events')
      t.same(await store.readStream(missing, { direction: 'backward', limit: 5 }), { version: -1, events: [] })
    })

    t.test('readAll', async (t) => {
      const { store } = await open(t)
      const empty = await store.readAll()
      t.same(empty.events, [], 'an empty store has no events')
      t.ok(empty.scannedTo >= 0)

      const contact1 = stream('contact')
      const contact2 = stream('contact')
      const contacts = stream('contacts')
      const campaign1 = stream('campaign')
      const campaign2 = stream('campaign')
      const reservation = `reservation-phone-${TENANT_A}-255712000001`
      const plan: AppendRequest[] = [
        { streamName: contact1, expectedVersion: 'no_stream', events: [newEvent('ContactCreated'), newEvent('ContactRenamed')] },
        { streamName: campaign1, expectedVersion: 'no_stream', events: [newEvent('CampaignCreated')] },
        { streamName: reservation, expectedVersion: 'no_stream', events: [newEvent('KeyReserved')] },
        { streamName: contact2, expectedVersion: 'no_stream', events: [newEvent('ContactCreated')] },
        { streamName: contacts, expectedVersion: 'no_stream', events: [newEvent('ContactCreated')] },
        { streamName: campaign2, expectedVersion: 'no_stream', events: [newEvent('CampaignCreated', {}, TENANT_B), newEvent('CampaignLaunched', {}, TENANT_B)] },
      ]
      const results: AppendResult[] = []
      for (const request of plan) results.push(await store.append([request]))
      const order = plan.flatMap((request) => request.events.map((e) => e.id))
      const last = results.at(-1)!.lastPosition
      await visible(t, store, last)
      t.equal(await store.headPosition(), last, 'headPosition is the last position')

      const everything = await store.readAll()
      t.same(everything.events.map((e) => e.id), order, 'from 0: every event in append order')
      t.ok(isStrictlyIncreasing(everything.events.map((e) => e.position)), 'in strictly increasing positions')
      t.ok(everything.scannedTo >= last, 'scannedTo covers the whole log')
      t.same(everything.events[1], (await store.readStream(contact1)).events[1], 'the same recorded event as readStream')
      t.same((await store.readAll({ after: 0 })).events.map((e) => e.id), order, 'after 0 is from the start')

      const p = results[2]!.lastPosition
      const afterP = await store.readAll({ after: p })
      t.same(afterP.events.map((e) => e.id), order.slice(4), 'after a position: only later events')
      t.ok(afterP.events.every((e) => e.position > p))
      t.same((await store.readAll({ after: last })).events, [], 'after the last position: nothing')
      const beyond = await store.readAll({ after: last + 1000 })
      t.same(beyond.events, [])
      t.ok(beyond.scannedTo >= last + 1000, 'scannedTo never goes back behind `after`')

      const firstTwo = await store.readAll({ limit: 2 })
      t.same(firstTwo.events.map((e) => e.id), order.slice(0, 2), 'limit')
      t.equal(firstTwo.scannedTo, firstTwo.events[1]!.position, 'a full page checkpoints at its last event')
      const paged: string[] = []
      let checkpoint = 0
      for (let page = 0; page < 20; page++) {
        const slice = await store.readAll({ after: checkpoint, limit: 3 })
        t.ok(slice.events.length <= 3)
        paged.push(...slice.events.map((e) => e.id))
        t.ok(slice.scannedTo >= checkpoint, 'the checkpoint never moves back')
        checkpoint = slice.scannedTo
        if (slice.events.length === 0) break
      }
      t.same(paged, order, 'paging by scannedTo reads every event exactly once')

      const created = await store.readAll({ eventTypes: ['ContactCreated'] })
      t.same(created.events.map((e) => e.id), [order[0], order[4], order[5]], 'eventTypes filter')
      t.ok(created.scannedTo >= last)
      const twoTypes = await store.readAll({ eventTypes: ['CampaignCreated', 'KeyReserved'] })
      t.same(twoTypes.events.map((e) => e.type), ['CampaignCreated', 'KeyReserved', 'CampaignCreated'])

      const contactCategory = await store.readAll({ categories: ['contact'] })
      t.same(contactCategory.events.map((e) => e.id), [order[0], order[1], order[4]], "categories: 'contact' is not 'contacts'")
      t.same((await store.readAll({ categories: ['reservation'] })).events.map((e) => e.streamName), [reservation], 'the category is the text before the first dash')
      t.same((await store.readAll({ categories: ['contacts', 'campaign'] })).events.map((e) => e.id), [order[2], order[5], order[6], order[7]], 'several categories')
      t.same(
        (await store.readAll({ categories: ['contact', 'contacts'], eventTypes: ['ContactRenamed', 'CampaignCreated'] })).events.map((e) => e.id),
        [order[1]],
        'categories and eventTypes together',
      )
      t.same((await store.readAll({ tenantId: TENANT_B })).events.map((e) => e.id), order.slice(6), 'tenantId filter')

      const firstContact = await store.readAll({ categories: ['contact'], limit: 1 })
      t.same(firstContact.events.map((e) => e.id), [order[0]])
      t.equal(firstContact.scannedTo, firstContact.events[0]!.position, 'a full filtered page checkpoints at its last event')
      const nextContacts = await store.readAll({ categories: ['contact'], after: firstContact.scannedTo, limit: 5 })
      t.same(nextContacts.events.map((e) => e.id), [order[1], order[4]], 'the filtered reader resumes from its checkpoint')

      const nothing = await store.readAll({ eventTypes: ['NeverWritten'] })
      t.same(nothing.events, [])
      t.ok(nothing.scannedTo >= last, 'a filter matching nothing still lets the reader checkpoint past the log')
      const newer = await store.append([{ streamName: stream('audit'), expectedVersion: 'no_stream', events: [newEvent('NeverWritten')] }])
      await visible(t, store, newer.lastPosition)
      const resumed = await store.readAll({ eventTypes: ['NeverWritten'], after: nothing.scannedTo })
      t.same(resumed.events.map((e) => e.position), [newer.lastPosition], 'an event written after that checkpoint is not skipped')
      t.equal(await store.headPosition(), newer.lastPosition)
    })

    t.test('onAppended', async (t) => {
      const { store } = await open(t)
      const heard: number[] = []
      const unsubscribe = store.onAppended((position) => heard.push(position))
      const alsoHeard: number[] = []
      const unsubscribeOther = store.onAppended((position) => alsoHeard.push(position))
      t.teardown(unsubscribeOther)

      const first = await store.append([{ streamName: stream('bell'), expectedVersion: 'no_stream', events: events(2) }])
      await eventually(async () => heard, (positions) => positions.some((p) => p >= first.lastPosition), 5000)
      t.ok(heard.some((p) => p >= first.lastPosition), 'the listener hears a position at or after the append')

      unsubscribe()
      await sleep(100) // any notification still in flight from the first append
      const count = heard.length
      const second = await store.append([{ streamName: stream('bell'), expectedVersion: 'no_stream', events: events(1) }])
      await eventually(async () => alsoHeard, (positions) => positions.some((p) => p >= second.lastPosition), 5000)
      t.ok(alsoHeard.some((p) => p >= second.lastPosition), 'the other listener still hears appends')
      await sleep(150)
      t.equal(heard.length, count, 'an unsubscribed listener hears nothing more')
    })

    t.test('concurrency: 20 writers race on one stream', async (t) => {
      const { store } = await open(t)
      const s = stream('race')
      const WRITERS = 20
      const EACH = 10
      const won: number[][] = range(0, WRITERS).map(() => [])
      let conflicts = 0
      await Promise.all(
        range(0, WRITERS).map(async (writer) => {
          const mine = won[writer]!
          while (mine.length < EACH) {
            const { version } = await store.readStream(s, { direction: 'backward', limit: 1 })
            const expectedVersion: ExpectedVersion = version === -1 ? 'no_stream' : version
            try {
              const result = await store.append([{ streamName: s, expectedVersion, events: [newEvent('Raced', { writer, n: mine.length })] }])
              const got = result.streams[0]!.version
              if (got !== version + 1) throw new Error(`writer ${writer} expected ${version} but the append landed at ${got}`)
              mine.push(got)
            } catch (error) {
              if (!(error instanceof WrongExpectedVersion)) throw error
              if (error.actual <= version) throw new Error(`a conflict must report a newer version: read ${version}, actual ${error.actual}`)
              conflicts++
              await sleep(Math.random() * 4) // a little jitter, as a command's retry policy has
            }
          }
        }),
      )

      const allWins = won.flat().sort((x, y) => x - y)
      t.same(allWins, range(0, WRITERS * EACH), 'every version was won by exactly one writer')
      t.ok(conflicts > 0, `the writers did collide (${conflicts} conflicts)`)

      const slice = await store.readStream(s)
      t.equal(slice.version, WRITERS * EACH - 1)
      t.same(slice.events.map((e) => e.streamVersion), range(0, WRITERS * EACH), 'versions 0..199 without gap or duplicate')
      t.equal(new Set(slice.events.map((e) => e.id)).size, WRITERS * EACH)
      t.ok(isStrictlyIncreasing(slice.events.map((e) => e.position)), 'positions follow versions')
      const winnerOf = new Map<number, number>()
      won.forEach((versions, writer) => versions.forEach((v) => winnerOf.set(v, writer)))
      const mismatched = slice.events.filter((e) => (e.data as { writer: number }).writer !== winnerOf.get(e.streamVersion))
      t.same(mismatched, [], 'each recorded event is the one its winning writer appended')
      for (const [writer] of won.entries()) {
        const ns = slice.events.filter((e) => (e.data as { writer: number }).writer === writer).map((e) => (e.data as { n: number }).n)
        if (JSON.stringify(ns) !== JSON.stringify(range(0, EACH))) t.fail(`writer ${writer} wrote ${JSON.stringify(ns)}`)
      }
      t.pass('every writer has its own events 0..9 in order')
    })

    t.test("concurrency: 'any' appends keep a stream's positions in version order", async (t) => {
      const { store } = await open(t)
      const shared = stream('shared')
      const WRITERS = 12
      const EACH = 8
      await Promise.all(
        range(0, WRITERS).map(async (writer) => {
          const own = stream('own')
          for (let n = 0; n < EACH; n++) {
            // half of the appends also touch a stream of the writer's own, first, in the same call
            const requests: AppendRequest[] = [{ streamName: shared, expectedVersion: 'any', events: [newEvent('Shared', { writer, n })] }]
            if (n % 2 === 1) requests.unshift({ streamName: own, expectedVersion: 'any', events: [newEvent('Own', { writer, n })] })
            await store.append(requests)
          }
        }),
      )
      const slice = await store.readStream(shared)
      t.same(slice.events.map((e) => e.streamVersion), range(0, WRITERS * EACH), 'every append landed, without gap')
      t.ok(isStrictlyIncreasing(slice.events.map((e) => e.position)), "a stream's positions increase with its versions")
      await visible(t, store, Math.max(...slice.events.map((e) => e.position)))
      const fromLog = (await readWholeLog(store)).filter((e) => e.streamName === shared).map((e) => e.streamVersion)
      t.same(fromLog, range(0, WRITERS * EACH), 'the global log delivers the stream in version order')
    })

    t.test('concurrency: the same append sent many times at once is written once', async (t) => {
      const { store } = await open(t)
      const COPIES = 8
      const check = async (label: string, requests: AppendRequest[]): Promise<void> => {
        const settled = await Promise.allSettled(range(0, COPIES).map(() => store.append(requests)))
        const rejected = settled.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))
        t.same(rejected, [], `${label}: every copy succeeds`)
        const results = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
        t.equal(results.filter((r) => !r.duplicate).length, 1, `${label}: exactly one copy wrote`)
        t.equal(new Set(results.map((r) => r.lastPosition)).size, 1, `${label}: all copies report the same position`)
        for (const request of requests) {
          const slice = await store.readStream(request.streamName)
          t.same(slice.events.filter((e) => request.events.some((n) => n.id === e.id)).length, request.events.length, `${label}: each event recorded once`)
        }
      }
      const fresh = stream('retry')
      await check('no_stream', [{ streamName: fresh, expectedVersion: 'no_stream', events: events(3) }])
      await check('exact version', [{ streamName: fresh, expectedVersion: 2, events: events(2) }])
      await check('any', [{ streamName: fresh, expectedVersion: 'any', events: events(2) }])
      await check('multi-stream', [
        { streamName: fresh, expectedVersion: 6, events: events(1) },
        { streamName: stream('retry'), expectedVersion: 'no_stream', events: events(2) },
      ])
      t.same((await store.readStream(fresh)).events.map((e) => e.streamVersion), range(0, 8), 'the stream holds each event once')
    })

    t.test('concurrency: a reader tailing the global log never skips', async (t) => {
      const subject = await open(t)
      const { store } = subject
      const WRITERS = 20
      const EACH = 25
      const SLOW_WRITERS = subject.appendInSlowTransaction ? 4 : 0
      const SLOW_EACH = 6
      const watched = new Set(['tailA'])
      /** event id -> its stream's category */
      const expected = new Map<string, string>()
      let writersDone = false
      let lastWritten = 0
      let overtaken = 0

      const record = (requests: AppendRequest[], lastPosition: number): void => {
        lastWritten = Math.max(lastWritten, lastPosition)
        for (const request of requests) {
          for (const e of request.events) expected.set(e.id, streamCategory(request.streamName))
        }
      }

      interface Tail {
        seen: RecordedEvent[]
        problems: string[]
        reads: number
      }
      const tail = async (filter: { categories?: string[] }, limit: number): Promise<Tail> => {
        const result: Tail = { seen: [], problems: [], reads: 0 }
        let checkpoint = 0
        let highest = 0
        const deadline = Date.now() + 60_000
        for (;;) {
          const finished = writersDone
          const slice = await store.readAll({ ...filter, after: checkpoint, limit })
          result.reads++
          for (const e of slice.events) {
            if (e.position <= checkpoint) result.problems.push(`position ${e.position} at or below the checkpoint ${checkpoint}`)
            if (e.position <= highest) result.problems.push(`position ${e.position} after ${highest}`)
            if (e.position > slice.scannedTo) result.problems.push(`position ${e.position} above scannedTo ${slice.scannedTo}`)
            highest = Math.max(highest, e.position)
            result.seen.push(e)
          }
          if (slice.scannedTo < checkpoint) result.problems.push(`scannedTo ${slice.scannedTo} went back from ${checkpoint}`)
          checkpoint = Math.max(checkpoint, slice.scannedTo)
          if (finished && slice.events.length === 0 && checkpoint >= lastWritten) return result
          if (Date.now() > deadline) {
            result.problems.push(`the reader did not catch up: checkpoint ${checkpoint}, last written ${lastWritten}`)
            return result
          }
          if (slice.events.length === 0) await sleep(1)
        }
      }

      const readers = [tail({}, 7), tail({ categories: [...watched] }, 3)]

      const fast = range(0, WRITERS).map(async (writer) => {
        const category = writer % 2 === 0 ? 'tailA' : 'tailB'
        const s = stream(category)
        for (let n = 0; n < EACH; n++) {
          const request: AppendRequest = {
            streamName: s,
            expectedVersion: writer % 4 === 1 ? 'any' : n === 0 ? 'no_stream' : n - 1,
            events: [newEvent('Tailed', { writer, n })],
          }
          const result = await store.append([request])
          record([request], result.lastPosition)
        }
      })
      const slow = range(0, SLOW_WRITERS).map(async (writer) => {
        const s = stream('tailA')
        for (let n = 0; n < SLOW_EACH; n++) {
          const request: AppendRequest = { streamName: s, expectedVersion: n === 0 ? 'no_stream' : 2 * n - 1, events: [newEvent('Slow', { writer, n }), newEvent('Slow', { writer, n })] }
          const result = await subject.appendInSlowTransaction!([request], 20 + Math.floor(Math.random() * 30))
          if (result.overtaken) overtaken++
          record([request], result.lastPosition)
        }
      })
      const writes = await Promise.allSettled([...fast, ...slow])
      writersDone = true
      t.same(writes.filter((w) => w.status === 'rejected').map((w) => String((w as PromiseRejectedResult).reason)), [], 'every writer succeeded')
      t.equal(expected.size, WRITERS * EACH + SLOW_WRITERS * SLOW_EACH * 2)
      if (SLOW_WRITERS > 0 && options.parallel) {
        t.ok(overtaken > 0, `later positions committed while slow transactions were open (${overtaken} times)`)
      }

      const [all, filtered] = await Promise.all(readers)
      for (const [label, result, wanted] of [
        ['unfiltered reader', all!, [...expected.keys()]],
        ['category reader', filtered!, [...expected].filter(([, category]) => watched.has(category)).map(([id]) => id)],
      ] as const) {
        t.same(result.problems, [], `${label}: never went back (${result.reads} reads)`)
        const ids = result.seen.map((e) => e.id)
        const distinct = new Set(ids)
        t.equal(ids.length, distinct.size, `${label}: no event twice`)
        const missing = wanted.filter((id) => !distinct.has(id))
        t.same(missing, [], `${label}: no event skipped`)
        t.equal(ids.length, wanted.length, `${label}: nothing unexpected`)
        t.ok(isStrictlyIncreasing(result.seen.map((e) => e.position)), `${label}: strictly increasing positions`)
      }
      const head = await store.headPosition()
      t.ok(head >= lastWritten, 'the head reached the last write')
    })
  })
}
