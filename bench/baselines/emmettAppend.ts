import pg from 'pg'
import { STREAM_DOES_NOT_EXIST } from '@event-driven-io/emmett'
import { getPostgreSQLEventStore } from '@event-driven-io/emmett-postgresql'
import type { BaselineResult, BenchContext } from '../harness/benchmark.ts'
import { freshDatabase, measureWriters, sampleEvent, WRITERS, writeDurations, writerStream } from '../writers/concurrentWriters.ts'

/**
 * The peer: @event-driven-io/emmett-postgresql's appendToStream, in a database of its own with the
 * schema it creates itself, through a pool of 10 connections (the size of ours). 10 concurrent
 * writers, 1 event per append, each writer on streams of its own with the expected version it
 * last wrote (bench/writers/concurrentWriters.ts: the same pattern as our append figure).
 * Events per second over fixed windows, the median of the runs.
 */
export async function measureBaseline(ctx: BenchContext): Promise<BaselineResult> {
  const databaseUrl = await freshDatabase(ctx, 'emmett_append')
  const pool = new pg.Pool({ connectionString: databaseUrl, max: WRITERS, application_name: 'bench-emmett' })
  const store = getPostgreSQLEventStore(databaseUrl, { connectionOptions: { pool }, schema: { autoMigration: 'CreateOrUpdate' } })
  try {
    await store.schema.migrate()
    const run = Date.now().toString(36)
    const measured = await measureWriters(writeDurations(ctx.mode), async (writer, sequence) => {
      const { name, version } = writerStream('contact', run, writer, sequence)
      const { id: _id, ...event } = sampleEvent(writer, sequence)
      // Emmett counts stream positions from 1: a stream holding `version` events expects `version`
      await store.appendToStream(name, [event], { expectedStreamVersion: version === 0 ? STREAM_DOES_NOT_EXIST : BigInt(version) })
      return 1
    })
    ctx.log(`Emmett appendToStream: ${Math.round(measured.perSecond)} events/s (p50 ${measured.p50Ms} ms, p99 ${measured.p99Ms} ms)`)
    return { name: 'emmettAppend', value: measured.perSecond, unit: 'events/s', details: { ...measured, streamPattern: 'each writer its own streams, 100 events each, expected version checked' } }
  } finally {
    await store.close()
    await pool.end().catch(() => undefined)
  }
}
