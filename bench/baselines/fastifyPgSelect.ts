import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { BaselineResult, BenchContext, BenchMode } from '../harness/benchmark.ts'
import { startListeningChild } from '../harness/childProcesses.ts'
import { createBenchDatabase } from '../harness/databases.ts'
import { loadSettings, runLoad } from '../harness/load.ts'

/**
 * Fastify doing one indexed SELECT of 20 rows with pg per request, in a process of its own, under
 * the read figures' load: what one database round trip per request costs on this machine. The
 * table lives in a fresh database of its own, filled here and dropped afterwards.
 */
const serverModule = path.join(path.dirname(fileURLToPath(import.meta.url)), 'servers', 'pgSelectServer.ts')

const OWNERS = 100
const rowsByMode: Record<BenchMode, number> = { smoke: 5_000, quick: 50_000, full: 250_000 }

export async function measureBaseline(ctx: BenchContext): Promise<BaselineResult> {
  const database = await createBenchDatabase(ctx.postgresUrl, 'pgselect')
  ctx.onCleanup(() => database.drop())
  try {
    const rows = rowsByMode[ctx.mode]
    ctx.log(`Fastify + pg SELECT: filling bench_activity with ${rows.toLocaleString('en')} rows`)
    await fillTable(database.url, rows)
    const server = await startListeningChild(serverModule, { env: { DATABASE_URL: database.url, DATABASE_POOL_SIZE: '10', BENCH_OWNERS: String(OWNERS) }, profileLabel: 'fastifyPgSelect' })
    try {
      const settings = loadSettings(ctx.mode)
      ctx.log(`Fastify + pg SELECT: ${settings.runs} × ${settings.durationSeconds} s at ${settings.connections} connections`)
      const load = await runLoad({ url: `${server.baseUrl}/recent`, ...settings })
      if (load.requestsPerSecond <= 0) throw new Error(`Fastify + pg answered nothing (${load.non2xx} non-2xx, ${load.errors} errors)`)
      return { name: 'fastifyPgSelect', value: load.requestsPerSecond, unit: 'requests/s', details: { ...load, rows, owners: OWNERS, poolSize: 10 } }
    } finally {
      await server.stop()
    }
  } finally {
    await database.drop()
  }
}

async function fillTable(databaseUrl: string, rows: number): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(`create table bench_activity (
      id bigint primary key,
      owner integer not null,
      kind text not null,
      subject text not null,
      occurred_at timestamptz not null
    )`)
    await client.query(
      `insert into bench_activity (id, owner, kind, subject, occurred_at)
       select n, n % $2, (array['contact.created','campaign.started','message.sent','message.delivered'])[1 + n % 4],
              'subject ' || n, timestamptz '2025-01-01' + (n || ' seconds')::interval
       from generate_series(1, $1::bigint) as n`,
      [rows, OWNERS],
    )
    await client.query('create index bench_activity_recent on bench_activity (owner, occurred_at desc)')
    await client.query('analyze bench_activity')
  } finally {
    await client.end()
  }
}
