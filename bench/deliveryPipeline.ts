/**
 * Delivery pipeline benchmark (not a test): messages per second through the whole pipeline on the
 * simulator with BullMQ on Redis — a campaign of N recipients started, its messages queued by the
 * fan-out, dispatched as send jobs, sent through the simulator, and their delivery reports
 * recorded — and, in the same run, the rate of BullMQ no-op jobs through the same queue port,
 * concurrency and Redis as a baseline.
 *
 *   npm run bench:delivery -- [--recipients 5000] [--concurrency 50] [--rate 100000] [--pool 10] [--trace]
 *
 * --concurrency is SEND_CONCURRENCY, --rate PROVIDER_MAX_PER_SECOND, --pool DATABASE_POOL_SIZE;
 * --trace prints the pipeline's progress (messages queued, provider calls, sent, outcomes, send
 * queue counts) as it goes.
 *
 * Needs PostgreSQL (TEST_POSTGRES_URL, as the tests) and Redis (TEST_REDIS_URL). It creates a fresh
 * database and its own Redis key prefixes, and removes them when it ends.
 */
import { randomBytes } from 'node:crypto'
import { cpus, loadavg } from 'node:os'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type Kysely } from 'kysely'
import { buildApp, openServices, startDeliveryWorkers } from '../app.ts'
import { systemActor } from '../commands/commandContext.ts'
import { purchaseCredits } from '../commands/billing/smsCredits.ts'
import { loadConfig } from '../infra/config.ts'
import { systemClock } from '../infra/clock.ts'
import { openQueueSystem } from '../infra/queue/openQueueSystem.ts'
import { SmsSimulator } from '../infra/sms/smsSimulator.ts'
import { ensureReportsRecorded } from '../tests/delivery/deliverySupport.ts'
import { dropQueueKeys } from '../tests/support/queueKeys.ts'
import { TEST_JWT_SECRET } from '../tests/support/testApp.ts'
import { createTestDatabase, redisUrl } from '../tests/support/testDatabase.ts'

const { values } = parseArgs({
  options: {
    recipients: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '50' },
    rate: { type: 'string', default: '100000' },
    pool: { type: 'string', default: '10' },
    trace: { type: 'boolean', default: false },
  },
})
const recipients = Number(values.recipients)
const concurrency = Number(values.concurrency)
const rate = Number(values.rate)
if (!Number.isInteger(recipients) || recipients < 1 || recipients > 10_000) throw new Error('--recipients must be from 1 to 10000 (one bulk import)')

const suffix = randomBytes(4).toString('hex')
const pipelinePrefix = `bench-delivery-${suffix}`
const baselinePrefix = `bench-noop-${suffix}`
const perSecond = (count: number, ms: number): number => Math.round((count / ms) * 1000)
const log = (text: string) => process.stdout.write(`${text}\n`)

async function inject(app: Awaited<ReturnType<typeof buildApp>>, method: 'GET' | 'POST', url: string, token: string | null, payload?: unknown): Promise<any> {
  const response = await app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload === undefined ? {} : { payload: payload as object }) })
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body.slice(0, 300)}`)
  return response.json()
}

async function countEvents(db: Kysely<any>, types: string[]): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from es_events where event_type in (${sql.join(types)})`.execute(db)
  return rows[0]!.n
}

async function pipeline(): Promise<{ sentMs: number; finalMs: number; stats: ReturnType<SmsSimulator['stats']> }> {
  const database = await createTestDatabase('bench_delivery')
  const config = loadConfig({
    DATABASE_URL: database.url,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'warn',
    RATE_LIMITS_ENABLED: 'false',
    READ_YOUR_WRITES_TIMEOUT_MS: '60000',
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: pipelinePrefix,
    DELIVERY_WORKERS: 'false',
    SEND_CONCURRENCY: String(concurrency),
    DATABASE_POOL_SIZE: values.pool,
    PROVIDER_MAX_PER_SECOND: String(rate),
    SIMULATOR_SEED: 'bench',
    SIMULATOR_MIN_DELAY_MS: '0',
    SIMULATOR_MAX_DELAY_MS: '20',
  })
  const services = await openServices(config, { clock: systemClock })
  const app = await buildApp(services)
  ensureReportsRecorded(services)
  try {
    const simulator = services.provider
    if (!(simulator instanceof SmsSimulator)) throw new Error('the benchmark runs on the simulator')
    const registered = await inject(app, 'POST', '/api/auth/register/', null, { email: `bench-${suffix}@example.com`, password: 'correct horse battery', first_name: 'Bench' })
    const token = registered.data.access as string
    const tenantId = registered.data.user.tenant_id as string
    await purchaseCredits(services.store, { tenantId, actor: systemActor, correlationId: 'bench', causationId: null, ip: null, userAgent: null, now: systemClock.now() }, recipients * 2, 'benchmark')
    const rows = Array.from({ length: recipients }, (_, i) => ({ name: `Recipient ${i}`, phone_e164: `+255712${String(i).padStart(6, '0')}`, is_opted_in: true, tags: ['bench'] }))
    await inject(app, 'POST', '/api/messaging/contacts/bulk-import/', token, rows)
    const campaign = await inject(app, 'POST', '/api/messaging/campaigns/', token, { name: 'Benchmark', message_text: 'Habari! Benchmark message.', target_criteria: { tags: ['bench'], opt_in_status: 'opted_in' } })
    const workers = await startDeliveryWorkers(services)

    const started = Date.now()
    await inject(app, 'POST', `/api/messaging/campaigns/${campaign.data.id}/start/`, token)
    let sentMs = 0
    for (;;) {
      const stats = simulator.stats()
      if (!sentMs && stats.accepted + stats.rejected >= recipients) {
        // the provider answered every message: wait for those answers to be recorded
        const recorded = await countEvents(services.database.db, ['messageSent'])
        if (recorded >= stats.accepted) sentMs = Date.now() - started
      }
      const final = await countEvents(services.database.db, ['messageDelivered', 'messageFailed'])
      if (values.trace) {
        const queued = await countEvents(services.database.db, ['outboundMessageQueued'])
        const sent = await countEvents(services.database.db, ['messageSent'])
        const counts = await services.queues.queue('send').counts()
        log(`${Date.now() - started} ms: queued ${queued}, provider calls ${simulator.stats().sendCalls}, sent ${sent}, final ${final}, send queue ${JSON.stringify(counts)}`)
      }
      if (final >= recipients) break
      await sleep(100)
    }
    const finalMs = Date.now() - started
    await workers.close()
    return { sentMs, finalMs, stats: simulator.stats() }
  } finally {
    await app.close()
    await services.close()
    await database.drop()
    await dropQueueKeys(pipelinePrefix)
  }
}

async function baseline(): Promise<number> {
  const queues = await openQueueSystem({ redisUrl, prefix: baselinePrefix })
  try {
    const queue = queues.queue<{ n: number }>('noop')
    let done = 0
    const worker = queues.work<{ n: number }>(
      'noop',
      async () => {
        done++
      },
      { concurrency, rateLimit: { max: rate, durationMs: 1000 } },
    )
    const started = Date.now()
    await queue.add(Array.from({ length: recipients }, (_, n) => ({ data: { n }, options: { jobId: `noop-${n}` } })))
    while (done < recipients) await sleep(10)
    const elapsed = Date.now() - started
    await worker.close()
    return elapsed
  } finally {
    await queues.close()
    await dropQueueKeys(baselinePrefix)
  }
}

const load = (): string => loadavg().map((value) => value.toFixed(1)).join(' ')
log(`delivery pipeline benchmark: ${recipients} recipients, send concurrency ${concurrency}, provider limit ${rate}/s, simulator reports after 0-20 ms`)
log(`machine: ${cpus().length} CPUs, load average ${load()} (PostgreSQL, Redis and this process share them)`)
const noopMs = await baseline()
const result = await pipeline()
const pipelineRate = perSecond(recipients, result.finalMs)
const baselineRate = perSecond(recipients, noopMs)
log(`BullMQ no-op jobs:        ${recipients} in ${noopMs} ms = ${baselineRate} jobs/s`)
log(`pipeline, sent recorded:  ${recipients} in ${result.sentMs} ms = ${perSecond(recipients, result.sentMs)} messages/s (start → every message sent or rejected and recorded)`)
log(`pipeline, outcomes in:    ${recipients} in ${result.finalMs} ms = ${pipelineRate} messages/s (start → every delivered/failed report recorded)`)
log(`ratio pipeline / no-op:   ${(pipelineRate / baselineRate).toFixed(3)}`)
log(`simulator: ${JSON.stringify(result.stats)}`)
log(`load average after: ${load()}`)
process.exit(0)
