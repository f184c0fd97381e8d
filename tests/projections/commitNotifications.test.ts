import { randomUUID } from 'node:crypto'
import t from 'tap'
import { schemaMigrations } from '../../app.ts'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { NewEvent } from '../../infra/eventStore/eventStore.ts'
import { PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { announceCommits, parseCommitPayload, PROJECTION_COMMITTED_CHANNEL, watchProjectionCommits } from '../../projections/engine/commitNotifications.ts'
import type { Projection, Reactor } from '../../projections/engine/projection.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import { eventually } from '../support/eventually.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * The engine announces each projection batch it commits: to listeners in the process
 * (engine.onCommitted) and, on PostgreSQL, to other processes (NOTIFY projection_committed
 * `<name>:<position>`). A listener that throws does not fail the batch.
 */
const metadata = { tenantId: null, userId: null, correlationId: 'c', causationId: null, ip: null, userAgent: null, occurredAt: '2026-01-01T00:00:00Z', schemaVersion: 1 }
const tick = (): NewEvent => ({ id: randomUUID(), type: 'tick', data: {}, metadata })

const quiet: Projection = { kind: 'projection', name: 'quiet', version: 1, eventTypes: ['tick'], async createTables() {}, async handle() {} }
const reacting: Reactor = { kind: 'reactor', name: 'reacting', version: 1, eventTypes: ['tick'], async handle() {} }

t.test('commit announcements', async (t) => {
  const database = await createTestDatabase('commit_notices')
  const engineSide = await openSqlDatabase({ databaseUrl: database.url, dataDir: 'memory://' })
  // another process's connection: it hears only the NOTIFY
  const otherSide = await openSqlDatabase({ databaseUrl: database.url, dataDir: 'memory://' })
  await migrateToLatest(engineSide.db, schemaMigrations)
  const store = await PostgresEventStore.open(engineSide)
  const engine = new ProjectionEngine({ db: engineSide.db, store, pollIntervalMs: 50 }).register(quiet, reacting)
  await engine.prepare()
  t.teardown(async () => {
    await engine.stop()
    stopAnnouncing()
    await store.close()
    await engineSide.close()
    await otherSide.close()
    await database.drop()
  })

  const inProcess: { name: string; position: number; events: number }[] = []
  engine.onCommitted((name, position, batch) => inProcess.push({ name, position, events: batch.events }))
  engine.onCommitted(() => {
    throw new Error('a careless listener')
  })
  const notified: string[] = []
  await otherSide.listen(PROJECTION_COMMITTED_CHANNEL, (payload) => notified.push(payload))
  const stopAnnouncing = announceCommits(engine, engineSide)
  const watched: { name: string; position: number }[] = []
  const stopWatching = await watchProjectionCommits(engine, engineSide, (name, position) => watched.push({ name, position }))
  t.teardown(stopWatching)
  engine.start()

  const { lastPosition } = await store.append([{ streamName: `tick-${randomUUID()}`, expectedVersion: 'no_stream', events: [tick(), tick()] }])
  await eventually(async () => inProcess.at(-1)?.position ?? 0, (position) => position >= lastPosition)
  t.same(new Set(inProcess.map((notice) => notice.name)), new Set(['quiet']), 'projection batches only, not the reactor')
  t.equal(
    inProcess.reduce((sum, notice) => sum + notice.events, 0),
    2,
    'with the events of each batch',
  )
  t.equal(engine.report().find((report) => report.name === 'quiet')?.status, 'live', 'a throwing listener does not fail the batch')

  await eventually(async () => notified.map(parseCommitPayload).at(-1)?.position ?? 0, (position) => position >= lastPosition)
  t.match(notified.at(-1), /^quiet:\d+$/, 'another process hears `<name>:<position>`')
  await eventually(async () => watched.length, (length) => length >= 1)
  t.ok(watched.every((notice, i) => i === 0 || notice.position > watched[i - 1]!.position), 'a commit heard both ways is passed on once')
})

t.test('parseCommitPayload', async (t) => {
  t.same(parseCommitPayload('activity_feed:123'), { name: 'activity_feed', position: 123 })
  t.equal(parseCommitPayload('activity_feed'), null)
  t.equal(parseCommitPayload(':12'), null)
  t.equal(parseCommitPayload('x:-1'), null)
  t.equal(parseCommitPayload('x:abc'), null)
})
