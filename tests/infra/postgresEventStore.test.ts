import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import pg from 'pg'
import { sql } from 'kysely'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase, type SqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { AppendRequest, ExpectedVersion } from '../../infra/eventStore/eventStore.ts'
import { eventStoreMigrations, PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { createTestDatabase } from '../support/testDatabase.ts'
import { eventStoreContract, type ContractFactory } from './eventStoreContract.ts'

/**
 * The event store contract on the PostgreSQL adapter, once on a real PostgreSQL server (a fresh
 * database for this file) and once on the embedded PGlite engine. Each contract test gets an
 * empty store: the tables are emptied and a new store is opened on the same migrated database.
 */

async function openMigrated(databaseUrl: string | undefined): Promise<SqlDatabase> {
  const database = await openSqlDatabase({ databaseUrl, dataDir: 'memory://', poolSize: 30, applicationName: 'event-store-contract' })
  await migrateToLatest(database.db, eventStoreMigrations)
  return database
}

function freshStores(database: SqlDatabase, extra: Pick<Awaited<ReturnType<ContractFactory>>, 'appendInSlowTransaction'> = {}): ContractFactory {
  return async () => {
    await sql`truncate es_events, es_streams`.execute(database.db)
    const store = await PostgresEventStore.open(database)
    return { store, close: () => store.close(), ...extra }
  }
}

/** es_append's encoding of an expected version */
function expectedCode(expected: ExpectedVersion): number {
  return expected === 'any' ? -2 : expected === 'no_stream' ? -1 : expected === 'stream_exists' ? -3 : expected
}

// the embedded engine takes seconds to boot: start it now, while the server run goes on
const embedded = openMigrated(undefined)
embedded.catch(() => undefined) // a failure is reported by the test that awaits it

t.test('PostgreSQL server', async (t) => {
  const testDatabase = await createTestDatabase('event_store_contract')
  const database = await openMigrated(testDatabase.url)
  // separate connections for writers that keep their transaction open a while before committing
  const slowPool = new pg.Pool({ connectionString: testDatabase.url, max: 8, types: { getTypeParser: (oid: number, format?: string) => (oid === 20 ? Number : pg.types.getTypeParser(oid, format as 'text')) } as pg.CustomTypesConfig })
  t.teardown(async () => {
    await slowPool.end()
    await database.close()
    await testDatabase.drop()
  })

  /** one es_append call inside BEGIN ... sleep ... COMMIT, as a slow application transaction would */
  const appendInSlowTransaction = async (requests: AppendRequest[], holdMs: number): Promise<{ lastPosition: number; overtaken: boolean }> => {
    const payload = requests.map((r) => ({
      stream: r.streamName,
      expected: expectedCode(r.expectedVersion),
      events: r.events.map((e) => ({ id: e.id, type: e.type, data: e.data, metadata: e.metadata })),
    }))
    const client = await slowPool.connect()
    try {
      await client.query('begin')
      const { rows } = await client.query<{ o_position: number }>('select * from es_append($1::jsonb)', [JSON.stringify(payload)])
      const lastPosition = Math.max(...rows.map((row) => row.o_position))
      await sleep(holdMs)
      // our rows are not committed yet: any visible higher position was committed by a later writer meanwhile
      const { rows: later } = await slowPool.query<{ overtaken: boolean }>('select exists (select 1 from es_events where position > $1) as overtaken', [lastPosition])
      await client.query('commit')
      return { lastPosition, overtaken: later[0]?.overtaken === true }
    } catch (error) {
      await client.query('rollback').catch(() => undefined)
      throw error
    } finally {
      client.release()
    }
  }

  await eventStoreContract(t, 'PostgreSQL server', freshStores(database, { appendInSlowTransaction }), { parallel: true })

  t.test('the head counts an event committed while an older writer is still open', async (t) => {
    const store = await (freshStores(database))().then((subject) => subject.store)
    t.teardown(() => store.close())
    const meta = { tenantId: null, userId: null, correlationId: 'c', causationId: null, ip: null, userAgent: null, occurredAt: '2026-01-01T00:00:00Z', schemaVersion: 1 }
    const older = await slowPool.connect()
    try {
      await older.query('begin')
      await older.query('select pg_current_xact_id()') // an open writer with an older transaction id
      const committed = await store.append([{ streamName: 'head-1', expectedVersion: 'no_stream', events: [{ id: crypto.randomUUID(), type: 'Committed', data: {}, metadata: meta }] }])
      t.ok((await store.headPosition()) >= committed.lastPosition, 'the head is past the committed event')
      const visible = await store.readAll({ after: 0 })
      t.equal(visible.events.length, 0, 'readers cannot see it yet')
      t.ok(visible.scannedTo < committed.lastPosition, 'and cannot checkpoint past it')
      await older.query('rollback')
      const after = await store.readAll({ after: 0 })
      t.same(after.events.map((e) => e.position), [committed.lastPosition], 'once the older writer ends, it is read')
    } finally {
      await older.query('rollback').catch(() => undefined)
      older.release()
    }
  })
})

t.test('embedded PGlite', async (t) => {
  const database = await embedded
  t.teardown(() => database.close())
  await eventStoreContract(t, 'PGlite (memory)', freshStores(database))
})
