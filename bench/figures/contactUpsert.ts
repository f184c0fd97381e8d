import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { atLeastRatio, ratioOf, type Benchmark, type TargetCheck } from '../harness/benchmark.ts'
import { loadSettings, runLoad } from '../harness/load.ts'
import { startService } from '../harness/service.ts'
import { freshDatabase } from '../writers/concurrentWriters.ts'

/**
 * Contact upsert over HTTP: POST /api/messaging/contacts/ through the whole service (server.ts in
 * its own process, projections running in it as `npm start` runs them) against a fresh database,
 * 50 connections, every request a new phone (bench/writers/contactUpsertRequests.ts), so every
 * request creates a contact and claims its phone in one atomic append.
 *
 * Events/s = requests/s × the events one upsert appends, the latter counted in the event log
 * after the load: events of the contact and phone-claim streams ÷ contacts created.
 */
const requestModule = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'writers', 'contactUpsertRequests.ts')

export const benchmark: Benchmark = {
  name: 'contactUpsert',
  description: 'contact upsert over HTTP, 50 connections, distinct phones, against raw INSERTs',
  usesDataset: false,
  async run(ctx) {
    const raw = await ctx.baseline('rawInsert')
    const databaseUrl = await freshDatabase(ctx, 'contact_upsert')
    const service = await startService({ databaseUrl, redisUrl: ctx.redisUrl, env: { JWT_ACCESS_TTL: '2h' } })
    ctx.onCleanup(() => service.stop())

    const email = `bench-upsert-${Date.now().toString(36)}@example.com`
    const registered = await postJson(service.baseUrl, '/api/auth/register/', { email, password: 'correct horse battery', first_name: 'Bench', tenant_name: 'Bench upserts' })
    if (!registered.data.access) throw new Error('registration answered no token')
    const login = await postJson(service.baseUrl, '/api/auth/login/', { email, password: 'correct horse battery' })
    const token = login.data.access as string

    const load = await runLoad({
      url: `${service.baseUrl}/api/messaging/contacts/`,
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      requestModule,
      ...loadSettings(ctx.mode),
    })
    await service.stop()

    const counts = await countContactEvents(databaseUrl)
    const eventsPerUpsert = counts.contacts > 0 ? counts.events / counts.contacts : 0
    const eventsPerSecond = load.requestsPerSecond * eventsPerUpsert
    ctx.log(`contact upsert: ${Math.round(load.requestsPerSecond)} requests/s × ${eventsPerUpsert.toFixed(2)} events = ${Math.round(eventsPerSecond)} events/s (p50 ${load.p50Ms} ms, p99 ${load.p99Ms} ms, non-2xx ${load.non2xx}, errors ${load.errors})`)

    const ratio = ratioOf(eventsPerSecond, raw.value)
    const failed = load.non2xx + load.errors
    const noFailures: TargetCheck = { target: 'non-2xx and errors = 0', actual: String(failed), pass: failed === 0 }
    return [
      {
        figure: 'contact upsert over HTTP, 50 connections, distinct phones',
        value: eventsPerSecond,
        unit: 'events/s',
        baseline: raw,
        ratio,
        checks: [atLeastRatio(ratio, 0.5, 'raw single-row INSERT'), noFailures],
        details: {
          requestsPerSecond: load.requestsPerSecond,
          eventsPerUpsert,
          p50Ms: load.p50Ms,
          p99Ms: load.p99Ms,
          non2xx: load.non2xx,
          errors: load.errors,
          runs: load.runs,
          contactsCreated: counts.contacts,
        },
      },
    ]
  },
}

async function countContactEvents(databaseUrl: string): Promise<{ events: number; contacts: number }> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ events: string; contacts: string }>(`
      select (select count(*) from es_events where category in ('contact', 'contactPhone')) as events,
             (select count(*) from es_streams where category = 'contact') as contacts`)
    return { events: Number(rows[0]?.events ?? 0), contacts: Number(rows[0]?.contacts ?? 0) }
  } finally {
    await client.end()
  }
}

async function postJson(baseUrl: string, route: string, body: unknown): Promise<{ data: Record<string, any> }> {
  const response = await fetch(baseUrl + route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const text = await response.text()
  if (!response.ok) throw new Error(`POST ${route} answered ${response.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as { data: Record<string, any> }
}
