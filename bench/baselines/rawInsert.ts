import pg from 'pg'
import type { BaselineResult, BenchContext } from '../harness/benchmark.ts'
import { freshDatabase, measureWriters, sampleEvent, WRITERS, writeDurations } from '../writers/concurrentWriters.ts'

/**
 * What PostgreSQL does with the simplest possible writes on this machine: 10 clients (10
 * connections), each inserting one row per statement in autocommit, into a table shaped like an
 * event row, in a database of its own. The rows carry the same JSON as the write figures' events.
 * Rows per second over fixed windows, the median of the runs.
 */
export async function measureBaseline(ctx: BenchContext): Promise<BaselineResult> {
  const databaseUrl = await freshDatabase(ctx, 'raw_insert')
  const pool = new pg.Pool({ connectionString: databaseUrl, max: WRITERS, application_name: 'bench-raw-insert' })
  try {
    await pool.query(`
      create table raw_events (
        id bigint generated always as identity primary key,
        stream text not null,
        type text not null,
        data jsonb not null,
        recorded_at timestamptz not null default now()
      )`)
    const clients = await Promise.all(Array.from({ length: WRITERS }, () => pool.connect()))
    try {
      const measured = await measureWriters(writeDurations(ctx.mode), async (writer, sequence) => {
        const event = sampleEvent(writer, sequence)
        await clients[writer]!.query({
          name: 'raw-insert',
          text: 'insert into raw_events (stream, type, data) values ($1, $2, $3)',
          values: [`contact-${writer}`, event.type, JSON.stringify({ ...event.data, metadata: event.metadata })],
        })
        return 1
      })
      ctx.log(`raw INSERT: ${Math.round(measured.perSecond)} rows/s (p50 ${measured.p50Ms} ms, p99 ${measured.p99Ms} ms)`)
      return { name: 'rawInsert', value: measured.perSecond, unit: 'rows/s', details: { ...measured } }
    } finally {
      for (const client of clients) client.release()
    }
  } finally {
    await pool.end()
  }
}
