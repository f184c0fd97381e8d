import pg from 'pg'
import type { BaselineResult, BenchContext } from '../harness/benchmark.ts'

/**
 * The hand-written batched projection: what a projection costs when written by hand for speed,
 * with nothing of the engine. Over the dataset's whole log: read 1,000 events a page (position,
 * type, tenant and data, parsed as the engine's reads parse them), count them in memory per
 * tenant, local day and event type, and write each page's counts with one multi-row upsert plus
 * its checkpoint in one transaction. Its tables live in a schema of its own, dropped afterwards.
 */

const PAGE = 1_000
const SCHEMA = 'bench_hand_written'

export async function measureBaseline(ctx: BenchContext): Promise<BaselineResult> {
  const dataset = await ctx.dataset()
  const client = new pg.Client({ connectionString: dataset.databaseUrl })
  await client.connect()
  try {
    await client.query(`drop schema if exists ${SCHEMA} cascade`)
    await client.query(`create schema ${SCHEMA}`)
    await client.query(`create table ${SCHEMA}.daily_counts (tenant_id text not null, day date not null, event_type text not null, events bigint not null, primary key (tenant_id, day, event_type))`)
    await client.query(`create table ${SCHEMA}.checkpoint (name text primary key, position bigint not null)`)
    await client.query(`insert into ${SCHEMA}.checkpoint values ('daily_counts', 0)`)

    const started = performance.now()
    let position = 0
    let events = 0
    let pages = 0
    for (;;) {
      const { rows } = await client.query<{ position: string; event_type: string; tenant_id: string | null; data: { at?: string }; metadata: { occurredAt?: string } }>(
        'select position, event_type, tenant_id, data, metadata from es_events where position > $1 order by position limit $2',
        [position, PAGE],
      )
      if (rows.length === 0) break
      const counts = new Map<string, { tenant: string; day: string; type: string; events: number }>()
      for (const row of rows) {
        const at = row.data.at ?? row.metadata.occurredAt ?? ''
        const tenant = row.tenant_id ?? ''
        const day = at.slice(0, 10)
        const key = `${tenant}|${day}|${row.event_type}`
        const entry = counts.get(key)
        if (entry) entry.events += 1
        else counts.set(key, { tenant, day, type: row.event_type, events: 1 })
      }
      const last = Number(rows[rows.length - 1]!.position)
      const entries = [...counts.values()].filter((entry) => entry.day !== '')
      await client.query('begin')
      if (entries.length > 0) {
        await client.query(
          `insert into ${SCHEMA}.daily_counts (tenant_id, day, event_type, events)
           select * from unnest($1::text[], $2::date[], $3::text[], $4::bigint[])
           on conflict (tenant_id, day, event_type) do update set events = daily_counts.events + excluded.events`,
          [entries.map((e) => e.tenant), entries.map((e) => e.day), entries.map((e) => e.type), entries.map((e) => e.events)],
        )
      }
      await client.query(`update ${SCHEMA}.checkpoint set position = $1 where name = 'daily_counts'`, [last])
      await client.query('commit')
      position = last
      events += rows.length
      pages += 1
    }
    const seconds = (performance.now() - started) / 1000
    ctx.log(`handWrittenProjection: ${events.toLocaleString('en')} events in ${seconds.toFixed(1)} s`)
    return { name: 'handWrittenProjection', value: events / seconds, unit: 'events/s', details: { events, pages, seconds, pageSize: PAGE } }
  } finally {
    await client.query(`drop schema if exists ${SCHEMA} cascade`).catch(() => undefined)
    await client.end()
  }
}
