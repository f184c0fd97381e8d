import { schemaMigrations } from '../../app.ts'
import { eventVersions } from '../../commands/eventVersions.ts'
import { migrateToLatest } from '../../infra/database/migrations.ts'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import type { EventMetadata } from '../../infra/eventStore/eventStore.ts'
import { PostgresEventStore } from '../../infra/eventStore/postgresEventStore.ts'
import { UpcastingEventStore } from '../../infra/eventStore/upcasting.ts'
import { ServiceMetrics } from '../../infra/ops/metrics.ts'
import { atLeastRatio, ratioOf, type Benchmark, type FigureResult } from '../harness/benchmark.ts'
import { freshDatabase, measureWriters, sampleEvent, WRITERS, writeDurations, writerStream } from '../writers/concurrentWriters.ts'

/**
 * Our event store's append: opened as the service opens it (a pool of DATABASE_POOL_SIZE = 10
 * connections, every migration, the upcasting and metrics wrappers), in a fresh database. 10
 * concurrent writers, 1 event per append, each writer on streams of its own with the expected
 * version it last wrote: the same pattern, event and durations as the Emmett baseline.
 */
export const benchmark: Benchmark = {
  name: 'appends',
  description: 'event store append, 10 writers, 1 event per append, against Emmett and raw INSERTs',
  usesDataset: false,
  async run(ctx) {
    const peer = await ctx.baseline('emmettAppend')
    const raw = await ctx.baseline('rawInsert')

    const databaseUrl = await freshDatabase(ctx, 'appends')
    const database = await openSqlDatabase({ databaseUrl, dataDir: 'memory://', poolSize: WRITERS, applicationName: 'bench-appends' })
    let measured
    try {
      await migrateToLatest(database.db, schemaMigrations)
      const adapter = await PostgresEventStore.open(database)
      const store = new ServiceMetrics().instrument(new UpcastingEventStore(adapter, eventVersions))
      try {
        const run = Date.now().toString(36)
        measured = await measureWriters(writeDurations(ctx.mode), async (writer, sequence) => {
          const { name, version } = writerStream('contact', run, writer, sequence)
          const event = sampleEvent(writer, sequence)
          await store.append([
            {
              streamName: name,
              expectedVersion: version === 0 ? 'no_stream' : version - 1,
              events: [{ id: event.id, type: event.type, data: event.data, metadata: event.metadata as unknown as EventMetadata }],
            },
          ])
          return 1
        })
      } finally {
        await store.close()
      }
    } finally {
      await database.close()
    }
    ctx.log(`our append: ${Math.round(measured.perSecond)} events/s (p50 ${measured.p50Ms} ms, p99 ${measured.p99Ms} ms)`)

    const details = { ...measured, streamPattern: 'each writer its own streams, 100 events each, expected version checked' }
    const versusPeer = ratioOf(measured.perSecond, peer.value)
    const versusRaw = ratioOf(measured.perSecond, raw.value)
    const figures: FigureResult[] = [
      {
        figure: 'event store append, 10 writers, 1 event per append (vs Emmett)',
        value: measured.perSecond,
        unit: 'events/s',
        baseline: peer,
        ratio: versusPeer,
        checks: [atLeastRatio(versusPeer, 2.0, "Emmett's appendToStream")],
        details,
      },
      {
        figure: 'event store append, 10 writers, 1 event per append (vs raw INSERT)',
        value: measured.perSecond,
        unit: 'events/s',
        baseline: raw,
        ratio: versusRaw,
        checks: [atLeastRatio(versusRaw, 0.8, 'raw single-row INSERT')],
        details,
      },
    ]
    return figures
  },
}
