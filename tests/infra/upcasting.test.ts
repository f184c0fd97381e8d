import t from 'tap'
import { randomUUID } from 'node:crypto'
import { sql, type Transaction } from 'kysely'
import { schemaMigrations } from '../../app.ts'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { EventMetadata, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { UpcasterRegistry, UpcastingEventStore } from '../../infra/eventStore/upcasting.ts'
import { projectionSchema, type Projection } from '../../projections/engine/projection.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * An event type changes shape: `parcelShipped` v1 had `weightGrams`; v2 has `weight: {value,
 * unit}` and a `carrier`. The log keeps its v1 events as written; readers get v2.
 */
const v1to2 = { type: 'parcelShipped', fromVersion: 1, upcast: (data: unknown) => ({ weight: { value: (data as { weightGrams: number }).weightGrams, unit: 'g' }, carrier: 'unknown' }) }
const v2to3 = { type: 'parcelShipped', fromVersion: 2, upcast: (data: unknown) => ({ ...(data as object), tracked: false }) }

const meta = (schemaVersion: number): EventMetadata => ({ tenantId: 't', userId: null, correlationId: 'c', causationId: null, ip: null, userAgent: null, occurredAt: '2026-01-01T00:00:00Z', schemaVersion })

t.test('the registry: current versions and step-by-step upcasting', async (t) => {
  const registry = new UpcasterRegistry([v1to2, v2to3])
  t.equal(registry.currentVersion('parcelShipped'), 3)
  t.equal(registry.currentVersion('somethingElse'), 1)
  const old = { id: 'e', type: 'parcelShipped', data: { weightGrams: 250 }, metadata: meta(1), streamName: 'parcel-1', streamVersion: 0, position: 1, recordedAt: new Date() } satisfies RecordedEvent
  t.same(registry.upcast(old).data, { weight: { value: 250, unit: 'g' }, carrier: 'unknown', tracked: false })
  t.equal(registry.upcast(old).metadata.schemaVersion, 3)
  const middle = { ...old, data: { weight: { value: 1, unit: 'kg' }, carrier: 'DHL' }, metadata: meta(2) }
  t.same(registry.upcast(middle).data, { weight: { value: 1, unit: 'kg' }, carrier: 'DHL', tracked: false })
  const current = { ...old, data: { weight: { value: 1, unit: 'kg' }, carrier: 'DHL', tracked: true }, metadata: meta(3) }
  t.equal(registry.upcast(current), current, 'an event already current is returned as it is')
  t.throws(() => new UpcasterRegistry([v1to2, v1to2]), /two upcasters/)
})

t.test('old events in the log replay into a projection written for the new shape', async (t) => {
  const testDatabase = await createTestDatabase('upcasting')
  const database = await openSqlDatabase({ databaseUrl: testDatabase.url, dataDir: 'memory://' })
  await migrateToLatest(database.db, schemaMigrations)
  const raw = await PostgresEventStore.open(database)
  const store = new UpcastingEventStore(raw, new UpcasterRegistry([v1to2, v2to3]))
  t.teardown(async () => {
    await store.close()
    await database.close()
    await testDatabase.drop()
  })

  // written long ago as v1 and v2, and today as v3
  await raw.append([{ streamName: 'parcel-a', expectedVersion: 'no_stream', events: [{ id: randomUUID(), type: 'parcelShipped', data: { weightGrams: 500 }, metadata: meta(1) }] }])
  await raw.append([{ streamName: 'parcel-b', expectedVersion: 'no_stream', events: [{ id: randomUUID(), type: 'parcelShipped', data: { weight: { value: 2, unit: 'kg' }, carrier: 'EMS' }, metadata: meta(2) }] }])
  await raw.append([{ streamName: 'parcel-c', expectedVersion: 'no_stream', events: [{ id: randomUUID(), type: 'parcelShipped', data: { weight: { value: 3, unit: 'kg' }, carrier: 'DHL', tracked: true }, metadata: meta(3) }] }])

  const stored = await sql<{ data: unknown }>`select data from es_events order by position`.execute(database.db)
  t.same(stored.rows[0]!.data, { weightGrams: 500 }, 'the log itself is never rewritten')
  t.same((await store.readStream('parcel-a')).events[0]!.data, { weight: { value: 500, unit: 'g' }, carrier: 'unknown', tracked: false })

  // a projection that only knows the v3 shape
  const parcels: Projection = {
    kind: 'projection',
    name: 'parcels',
    version: 1,
    eventTypes: ['parcelShipped'],
    async createTables(db) {
      await db.schema.createTable('parcels').addColumn('stream', 'text', (c) => c.primaryKey()).addColumn('value', 'numeric').addColumn('unit', 'text').addColumn('carrier', 'text').addColumn('tracked', 'boolean').execute()
    },
    async handle(events, trx: Transaction<any>) {
      for (const event of events) {
        const data = event.data as { weight: { value: number; unit: string }; carrier: string; tracked: boolean }
        await trx.insertInto('parcels').values({ stream: event.streamName, value: data.weight.value, unit: data.weight.unit, carrier: data.carrier, tracked: data.tracked }).execute()
      }
    },
  }
  const engine = new ProjectionEngine({ db: database.db, store })
  engine.register(parcels)
  await engine.prepare()
  engine.start()
  t.ok(await engine.waitFor('parcels', await store.headPosition(), 20_000))
  await engine.stop()
  const { rows } = await sql`select stream, value, unit, carrier, tracked from ${sql.table(`${projectionSchema('parcels')}.parcels`)} order by stream`.execute(database.db)
  t.same(rows, [
    { stream: 'parcel-a', value: 500, unit: 'g', carrier: 'unknown', tracked: false },
    { stream: 'parcel-b', value: 2, unit: 'kg', carrier: 'EMS', tracked: false },
    { stream: 'parcel-c', value: 3, unit: 'kg', carrier: 'DHL', tracked: true },
  ])
})
