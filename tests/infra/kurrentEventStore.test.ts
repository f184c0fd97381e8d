import { randomUUID } from 'node:crypto'
import t from 'tap'
import { KurrentDBClient } from '@kurrent/kurrentdb-client'
import { KurrentEventStore } from '../../infra/eventStore/kurrentEventStore.ts'
import { eventStoreContract } from './eventStoreContract.ts'

/**
 * The event store contract on the KurrentDB adapter, against the server EVENTSTORE_URL names
 * (KurrentDB 25.1 or later: multi-stream appends). A server cannot be emptied between tests: each
 * contract test gets a store with a stream prefix of its own (`contract<run>n<k>.`), so it sees an
 * empty store while the server keeps everything else. Without EVENTSTORE_URL the suite is skipped,
 * and says so; tests/infra/kurrentMapping.test.ts runs everywhere.
 */

const url = process.env.EVENTSTORE_URL

if (!url) {
  t.test(
    'event store contract: KurrentDB',
    { skip: 'EVENTSTORE_URL is not set: the KurrentDB contract suite needs a KurrentDB 25.1+ server (docker compose up kurrentdb) — skipped' },
    async () => undefined,
  )
} else {
  // a real server answers more slowly than the embedded engine, and some races wait for timeouts
  t.setTimeout(10 * 60_000)

  t.test('KurrentDB server', async (t) => {
    const run = randomUUID().slice(0, 8)
    let count = 0
    const client = KurrentDBClient.connectionString(url)
    t.teardown(() => client.dispose())

    await eventStoreContract(
      t,
      'KurrentDB',
      async () => {
        const store = KurrentEventStore.withClient(client, { streamPrefix: `contract${run}n${++count}.` })
        return { store, close: () => store.close() }
      },
      { parallel: true },
    )

    t.test('open() connects with the connection string, close() disconnects', async (t) => {
      const store = await KurrentEventStore.open(url, { streamPrefix: `contract${run}open.` })
      t.equal(store.kind, 'kurrentdb')
      t.equal(await store.headPosition(), 0, 'a prefix nobody wrote to is an empty store')
      const written = await store.append([{ streamName: 'opened-1', expectedVersion: 'no_stream', events: [{ id: randomUUID(), type: 'Opened', data: {}, metadata: { tenantId: null, userId: null, correlationId: 'c', causationId: null, ip: null, userAgent: null, occurredAt: '2026-01-01T00:00:00.000Z', schemaVersion: 1 } }] }])
      t.equal(await store.headPosition(), written.lastPosition)
      await store.close()
    })
  })
}
