import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import {
  ANY,
  NO_STREAM,
  START,
  STREAM_EXISTS,
  DeadlineExceededError,
  TimeoutError,
  UnavailableError,
  WrongExpectedVersionError,
  type Position,
} from '@kurrent/kurrentdb-client'
import { InvalidAppend, type AppendRequest, type EventMetadata, type NewEvent } from '../../infra/eventStore/eventStore.ts'
import {
  APPEND_ID_KEY,
  KnownPositions,
  KurrentEventStore,
  decodeData,
  decodeMetadata,
  decodeResolvedEvent,
  encodeMetadata,
  fromKurrentStreamName,
  isTransient,
  ourStreamsFilter,
  planReadAll,
  satisfies,
  toEventData,
  toGlobalPosition,
  toKurrentStreamName,
  toReadPosition,
  toStreamState,
  toVersion,
  validateAppend,
  validateStreamPrefix,
  wrongVersionOf,
  type ClientResolvedEvent,
} from '../../infra/eventStore/kurrentEventStore.ts'

/**
 * The KurrentDB adapter's mappings (pure functions: versions, positions, stream names, metadata,
 * read plans, errors), tested everywhere. The adapter itself is tested only against a real
 * server: tests/infra/kurrentEventStore.test.ts runs the event store contract when EVENTSTORE_URL
 * is set (and says it skipped it otherwise) — no model of the server stands in for it.
 */

const PREFIX = 'mf1.'

function meta(overrides: Partial<EventMetadata> = {}): EventMetadata {
  return {
    tenantId: 'tenant-a',
    userId: 'user-1',
    correlationId: 'corr-1',
    causationId: null,
    ip: '192.0.2.1',
    userAgent: null,
    occurredAt: '2026-03-10T09:00:00.000Z',
    schemaVersion: 2,
    ...overrides,
  }
}

function newEvent(type = 'Tested', data: unknown = { n: 1 }): NewEvent {
  return { id: randomUUID(), type, data, metadata: meta() }
}

t.test('expected versions map to the client stream states', async (t) => {
  t.equal(toStreamState('no_stream'), NO_STREAM)
  t.equal(toStreamState('stream_exists'), STREAM_EXISTS)
  t.equal(toStreamState('any'), ANY)
  t.equal(toStreamState(0), 0n)
  t.equal(toStreamState(41), 41n)
  for (const bad of [-1, 1.5, Number.NaN, 2 ** 60]) t.throws(() => toStreamState(bad), InvalidAppend, `${bad} is refused`)
})

t.test('the client stream states map back to versions', async (t) => {
  t.equal(toVersion(NO_STREAM), -1)
  t.equal(toVersion(0n), 0)
  t.equal(toVersion(7n), 7)
  t.equal(toVersion(-5n), -1, 'a soft-deleted stream (-5) does not exist for us')
  t.equal(toVersion(-6n), -1, 'nor a tombstoned one (-6)')
  t.throws(() => toVersion(2n ** 60n), RangeError)
  const table: [Parameters<typeof satisfies>[0], number, boolean][] = [
    ['any', -1, true], ['any', 3, true],
    ['no_stream', -1, true], ['no_stream', 0, false],
    ['stream_exists', -1, false], ['stream_exists', 0, true],
    [3, 3, true], [3, 4, false], [0, -1, false],
  ]
  for (const [expected, version, ok] of table) t.equal(satisfies(expected, version), ok, `${String(expected)} at ${version}`)
})

t.test('positions: the commit position, as a safe integer, read inclusively', async (t) => {
  t.equal(toGlobalPosition({ commit: 123n, prepare: 123n }), 123)
  t.equal(toGlobalPosition({ commit: 500n, prepare: 420n }), 500, 'the commit position when an older server reports the transaction start as prepare')
  t.equal(toGlobalPosition({ commit: BigInt(Number.MAX_SAFE_INTEGER), prepare: 0n }), Number.MAX_SAFE_INTEGER, '2^53 - 1 bytes of log is the limit')
  t.throws(() => toGlobalPosition({ commit: BigInt(Number.MAX_SAFE_INTEGER) + 1n, prepare: 0n }), RangeError, 'beyond is refused, not rounded')
  t.throws(() => toGlobalPosition({ commit: -1n, prepare: -1n }), RangeError, 'no position reported')
  t.equal(toReadPosition(0), START, 'after 0: from the start')
  t.equal(toReadPosition(-4), START)
  t.same(toReadPosition(4096), { commit: 4096n, prepare: 4096n }, 'after p: from the record at p (skipped by the adapter)')
})

t.test('stream names: a prefix isolates a store, system streams are never ours', async (t) => {
  t.equal(toKurrentStreamName('', 'contact-1'), 'contact-1')
  t.equal(toKurrentStreamName(PREFIX, 'contact-1'), 'mf1.contact-1')
  t.equal(fromKurrentStreamName(PREFIX, 'mf1.contact-1'), 'contact-1')
  t.equal(fromKurrentStreamName(PREFIX, 'mf2.contact-1'), undefined, 'another prefix')
  t.equal(fromKurrentStreamName(PREFIX, 'mf1.'), undefined, 'the bare prefix')
  t.equal(fromKurrentStreamName('', '$stats-127.0.0.1:2113'), undefined, 'a system stream')
  t.equal(fromKurrentStreamName('', '$$contact-1'), undefined, 'a metadata stream')
  t.equal(fromKurrentStreamName('', 'contact-1'), 'contact-1')
  t.equal(validateStreamPrefix('test.ab12.'), 'test.ab12.')
  t.throws(() => validateStreamPrefix('$x'))
  t.throws(() => validateStreamPrefix('a b'))
})

t.test('metadata: one string per field, null fields left out, the append id alongside', async (t) => {
  const full = meta({ userAgent: 'curl/8', causationId: '' })
  const encoded = encodeMetadata(full, 'append-1')
  t.ok(Object.values(encoded).every((value) => typeof value === 'string'), 'string values only (multiStreamAppend accepts nothing else)')
  t.same(encoded, {
    tenantId: 'tenant-a',
    userId: 'user-1',
    correlationId: 'corr-1',
    causationId: '',
    ip: '192.0.2.1',
    userAgent: 'curl/8',
    occurredAt: '2026-03-10T09:00:00.000Z',
    schemaVersion: '2',
    [APPEND_ID_KEY]: 'append-1',
  })
  t.notOk('causationId' in encodeMetadata(meta(), 'x'), 'a null field is left out')
  t.strictSame(decodeMetadata(encoded), { metadata: full, appendId: 'append-1' }, 'round trip: an empty string stays empty, nulls come back')
  const withNulls = meta({ tenantId: null, userId: null, ip: null })
  t.strictSame(decodeMetadata(JSON.parse(JSON.stringify(encodeMetadata(withNulls, 'a2')))).metadata, withNulls)
  t.strictSame(
    decodeMetadata({ ...encoded, '$schema.name': 'Tested', '$schema.format': 'Json', $traceId: 'x', other: 'y' }).metadata,
    full,
    "KurrentDB's own properties are ignored",
  )
  t.strictSame(decodeMetadata({ ...full, schemaVersion: 3 }).metadata, { ...full, schemaVersion: 3 }, 'typed JSON metadata (written by others) is read too')
  t.strictSame(decodeMetadata(undefined), {
    metadata: { tenantId: null, userId: null, correlationId: '', causationId: null, ip: null, userAgent: null, occurredAt: '', schemaVersion: 1 },
    appendId: undefined,
  }, 'no metadata at all')
  t.equal(decodeMetadata(new Uint8Array([1, 2])).metadata.schemaVersion, 1, 'binary metadata is not ours')
})

t.test('data: JSON in, JSON out', async (t) => {
  const event = newEvent('Rich', { text: 'Habari ✓', big: 9007199254740991, list: [1, null] })
  const data = toEventData(event, 'append-9')
  t.equal(data.contentType, 'application/json')
  t.equal(data.id, event.id)
  t.equal(data.type, 'Rich')
  t.same(data.metadata, encodeMetadata(event.metadata, 'append-9'))
  t.same(decodeData(new TextEncoder().encode(JSON.stringify(event.data))), event.data, 'bytes holding JSON are parsed')
  t.equal(decodeData(new TextEncoder().encode('not json')), 'not json')
  t.same(decodeData({ a: 1 }), { a: 1 }, 'already parsed by the client')
})

t.test('read plans: the server filters one dimension, the client checks everything', async (t) => {
  const recorded = (streamName: string, type: string, tenantId: string | null = 'tenant-a') => ({
    id: randomUUID(), type, data: {}, metadata: meta({ tenantId }), streamName, streamVersion: 0, position: 1, recordedAt: new Date(),
  })
  const all = planReadAll({}, '')
  t.same(all.serverFilter, ourStreamsFilter(''))
  t.match(all.serverFilter, { filterOn: 'streamName', regex: '^[^$]' }, 'no prefix: every non-system stream')
  t.match(planReadAll({}, PREFIX).serverFilter, { filterOn: 'streamName', prefixes: [PREFIX] }, 'a prefix: its streams')

  const byCategory = planReadAll({ categories: ['contact', 'campaign'], eventTypes: ['ContactCreated'] }, PREFIX)
  t.match(byCategory.serverFilter, { filterOn: 'streamName', prefixes: ['mf1.contact-', 'mf1.campaign-'] }, 'categories are stream-name prefixes ending at the dash')
  t.ok(byCategory.matches(recorded('contact-1', 'ContactCreated')))
  t.notOk(byCategory.matches(recorded('contacts-1', 'ContactCreated')), "'contacts' is not 'contact'")
  t.notOk(byCategory.matches(recorded('contact-1', 'ContactRenamed')), 'the types are checked on the client')
  t.equal(byCategory.selective, true)

  const byType = planReadAll({ eventTypes: ['ContactCreated'] }, '')
  t.match(byType.serverFilter, { filterOn: 'eventType', prefixes: ['ContactCreated'] })
  t.notOk(byType.matches(recorded('contact-1', 'ContactCreatedV2')), 'a type prefix is not the type')
  t.equal(byType.selective, false)

  const byTenant = planReadAll({ tenantId: 'tenant-b' }, '')
  t.ok(byTenant.matches(recorded('x-1', 'A', 'tenant-b')))
  t.notOk(byTenant.matches(recorded('x-1', 'A', 'tenant-a')), 'tenants are filtered on the client')
  t.notOk(byTenant.matches(recorded('x-1', 'A', null)))
  t.equal(byTenant.selective, true)

  t.equal(planReadAll({ eventTypes: [] }, '').matchesNothing, true, 'an empty list matches nothing')
  t.equal(planReadAll({ categories: [] }, '').matchesNothing, true)
  t.equal(planReadAll({ categories: ['a'] }, '').matchesNothing, false)
})

t.test('recorded events: decoded, or left out when they are not ours', async (t) => {
  const event = newEvent('Tested', { n: 7 })
  const resolved = (streamId: string, type = 'Tested', position: Position | null = { commit: 900n, prepare: 900n }): ClientResolvedEvent => ({
    event: {
      streamId, id: event.id, type, revision: 4n, created: new Date('2026-03-10T09:00:01Z'),
      data: { n: 7 }, metadata: encodeMetadata(event.metadata, 'append-3'), ...(position ? { position } : {}),
    },
  })
  const decoded = decodeResolvedEvent(resolved('mf1.order-1'), PREFIX)
  t.strictSame(decoded, {
    event: { id: event.id, type: 'Tested', data: { n: 7 }, metadata: event.metadata, streamName: 'order-1', streamVersion: 4, position: 900, recordedAt: new Date('2026-03-10T09:00:01Z') },
    appendId: 'append-3',
  })
  t.equal(decodeResolvedEvent(resolved('mf2.order-1'), PREFIX), undefined, 'another prefix')
  t.equal(decodeResolvedEvent(resolved('$ce-order', '$>'), ''), undefined, 'a link in a system stream')
  t.equal(decodeResolvedEvent(resolved('order-1', '$streamDeleted'), ''), undefined, 'a $ event in a stream of ours')
  t.equal(decodeResolvedEvent({}, ''), undefined, 'nothing resolved')
  t.equal(decodeResolvedEvent({ ...resolved('order-1', 'Tested', null), commitPosition: 77n }, '')?.event.position, 77, "the result's commit position when the event has none")
  t.throws(() => decodeResolvedEvent(resolved('order-1', 'Tested', null), ''), /without a position/)
  const noDate = resolved('order-1')
  noDate.event!.created = new Date(Number.NaN)
  t.same(decodeResolvedEvent(noDate, '')?.event.recordedAt, new Date(event.metadata.occurredAt), 'an unusable created time falls back to occurredAt')
})

t.test('errors: conflicts name our stream and its actual version; timeouts are retried', async (t) => {
  const conflict = new WrongExpectedVersionError(undefined, { streamName: 'mf1.order-1', expected: 2n, current: 5n })
  t.same(wrongVersionOf(conflict, PREFIX), { streamName: 'order-1', actual: 5 })
  t.same(wrongVersionOf(new WrongExpectedVersionError(undefined, { streamName: 'order-1', expected: STREAM_EXISTS, current: NO_STREAM }), ''), { streamName: 'order-1', actual: -1 })
  t.equal(wrongVersionOf(new WrongExpectedVersionError(undefined, { streamName: '', expected: ANY, current: NO_STREAM }), ''), undefined, 'an error naming no stream')
  t.equal(wrongVersionOf(conflict, 'other.'), undefined)
  t.equal(wrongVersionOf(new Error('x'), ''), undefined)
  t.ok(isTransient(new DeadlineExceededError()))
  t.ok(isTransient(new TimeoutError()))
  t.ok(isTransient(new UnavailableError()))
  t.notOk(isTransient(conflict))
  t.notOk(isTransient(new Error('timeout')))
  t.notOk(isTransient('timeout'))
})

t.test('appends are validated before anything is sent', async (t) => {
  const ok: AppendRequest = { streamName: 'order-1', expectedVersion: 'no_stream', events: [newEvent()] }
  t.doesNotThrow(() => validateAppend([ok], ''))
  const refused: [string, AppendRequest[], string?][] = [
    ['nothing', []],
    ['an empty name', [{ ...ok, streamName: '' }]],
    ['a leading dash', [{ ...ok, streamName: '-1' }]],
    ['a reserved $ name', [{ ...ok, streamName: '$order-1' }]],
    ['the same stream twice', [ok, { ...ok, events: [newEvent()] }]],
    ['no events', [{ ...ok, events: [] }]],
    ['a bad expected version', [{ ...ok, expectedVersion: -3 }]],
    ['a non-UUID id', [{ ...ok, events: [{ ...newEvent(), id: 'evt-1' }] }]],
    ['an id twice', [{ ...ok, events: [ok.events[0]!, ok.events[0]!] }]],
    ['no data', [{ ...ok, events: [{ ...newEvent(), data: undefined }] }]],
  ]
  for (const [label, requests] of refused) t.throws(() => validateAppend(requests, ''), InvalidAppend, label)
  t.doesNotThrow(() => validateAppend([{ ...ok, streamName: '$order-1' }], PREFIX), 'behind a prefix a $ is an ordinary character')
})

t.test('known positions: bounded, searchable below a position', async (t) => {
  const known = new KnownPositions(3)
  for (const p of [0, -5, 100, 300, 200]) known.add(p)
  t.notOk(known.has(0), 'only positive positions')
  t.equal(known.below(250), 200)
  t.equal(known.below(100), undefined)
  known.add(400)
  t.notOk(known.has(100), 'the oldest is forgotten first')
  t.equal(known.below(1000), 400)
})

// ---------------------------------------------------------------------------------------------
t.test('open() without a server fails at once, with a message that does not repeat the connection string', async (t) => {
  const started = Date.now()
  const error = await KurrentEventStore.open('kurrentdb://someone:secret@127.0.0.1:1?tls=false').then(
    () => undefined,
    (reason: unknown) => reason,
  )
  t.ok(error instanceof Error && /KurrentDB \(EVENTSTORE_URL\) did not answer/.test(error.message), String(error))
  t.notMatch(String((error as Error | undefined)?.message), /secret/, 'no credentials in the message')
  t.ok(Date.now() - started < 30_000, `failed in ${Date.now() - started} ms`)
})

async function waitFor(condition: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition() && Date.now() < deadline) await sleep(5)
}
