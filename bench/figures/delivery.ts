import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type Kysely } from 'kysely'
import { buildApp, openServices, startDeliveryWorkers } from '../../app.ts'
import { campaignStream } from '../../commands/campaigns/campaignCommands.ts'
import { systemActor } from '../../commands/commandContext.ts'
import { purchaseCredits } from '../../commands/billing/smsCredits.ts'
import { systemClock } from '../../infra/clock.ts'
import { loadConfig } from '../../infra/config.ts'
import { SmsSimulator } from '../../infra/sms/smsSimulator.ts'
import { removeQueueKeys } from '../../infra/queue/queueKeys.ts'
import { createBenchDatabase } from '../harness/databases.ts'
import { atLeast, atLeastRatio, ratioOf, type Benchmark, type BenchContext, type BenchMode, type FigureResult } from '../harness/benchmark.ts'

/**
 * The delivery pipeline on the simulator with BullMQ on Redis, in a fresh database of its own: a
 * campaign of N opted-in recipients is started over HTTP (app.inject), and the clock stops when
 * every recipient's message has its final outcome (delivered or failed) recorded in the log —
 * fan-out, send jobs, the simulator, its delivery reports through the signed report route, all
 * as in production. Compared with BullMQ no-op jobs through the same queue port (bullmqNoop).
 */

const RECIPIENTS: Record<BenchMode, number> = { smoke: 100, quick: 2_000, full: 20_000 }
/** the bulk-import route takes at most this many rows per request */
const IMPORT_CHUNK = 10_000
/** how often the figure looks at the log: often enough to time a run of seconds, rarely enough not to load the database */
const POLL_MS = 200
/**
 * The service's settings for a bulk campaign: two hundred sends at a time (the more at once, the
 * more of their loads share a round trip: 1.6 queries a message at 100, 1.1 at 200) over thirty
 * database connections, the provider's limit out of the way.
 */
const PIPELINE_SETTINGS = { SEND_CONCURRENCY: '200', DATABASE_POOL_SIZE: '30' }

type App = Awaited<ReturnType<typeof buildApp>>

async function call(app: App, method: 'GET' | 'POST', url: string, token: string | null, payload?: unknown): Promise<any> {
  const response = await app.inject({ method, url, headers: token ? { authorization: `Bearer ${token}` } : {}, ...(payload === undefined ? {} : { payload: payload as object }) })
  if (response.statusCode >= 300) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body.slice(0, 300)}`)
  return response.json()
}

/** message events of these types after `after` (the log's head before the campaign started) */
async function countEvents(db: Kysely<any>, after: number, types: string[]): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from es_events where position > ${after} and category = 'message' and event_type in (${sql.join(types)})`.execute(db)
  return rows[0]!.n
}

async function createDatabase(ctx: BenchContext, label: string): Promise<string> {
  const database = await createBenchDatabase(ctx.postgresUrl, label)
  ctx.onCleanup(() => database.drop())
  return database.url
}

export interface PipelineMeasure {
  recipients: number
  /** start → every provider answer recorded (messageSent or messageFailed at send) */
  sentMs: number
  /** start → every message's final outcome recorded */
  finalMs: number
  /** start → the campaign completed by itself (null: not within 30 s of the last outcome) */
  completedMs: number | null
  simulator: ReturnType<SmsSimulator['stats']>
}

/** One campaign through the whole pipeline; `env` overrides the service's settings. */
export async function measurePipeline(ctx: BenchContext, recipients: number, env: Record<string, string> = {}): Promise<PipelineMeasure> {
  const suffix = randomBytes(4).toString('hex')
  const prefix = `bench-delivery-${suffix}`
  const databaseUrl = await createDatabase(ctx, 'delivery')
  ctx.onCleanup(() => removeQueueKeys(ctx.redisUrl, prefix))
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    JWT_SECRET: randomBytes(32).toString('hex'),
    LOG_LEVEL: 'warn',
    RATE_LIMITS_ENABLED: 'false',
    READ_YOUR_WRITES_TIMEOUT_MS: '60000',
    REDIS_URL: ctx.redisUrl,
    QUEUE_PREFIX: prefix,
    DELIVERY_WORKERS: 'false',
    ...PIPELINE_SETTINGS,
    PROVIDER_MAX_PER_SECOND: '100000',
    SIMULATOR_SEED: 'bench',
    SIMULATOR_MIN_DELAY_MS: '0',
    SIMULATOR_MAX_DELAY_MS: '20',
    ...env,
  })
  const services = await openServices(config, { clock: systemClock })
  const app = await buildApp(services)
  try {
    const simulator = services.provider
    if (!(simulator instanceof SmsSimulator)) throw new Error('the delivery figure runs on the simulator')
    const registered = await call(app, 'POST', '/api/auth/register/', null, { email: `bench-${suffix}@example.com`, password: 'correct horse battery', first_name: 'Bench' })
    const token = registered.data.access as string
    const tenantId = registered.data.user.tenant_id as string
    await purchaseCredits(services.store, { tenantId, actor: systemActor, correlationId: 'bench', causationId: null, ip: null, userAgent: null, now: systemClock.now() }, recipients * 2, 'benchmark')
    for (let first = 0; first < recipients; first += IMPORT_CHUNK) {
      const rows = Array.from({ length: Math.min(IMPORT_CHUNK, recipients - first) }, (_, i) => ({
        name: `Recipient ${first + i}`,
        phone_e164: `+255712${String(first + i).padStart(6, '0')}`,
        is_opted_in: true,
        tags: ['bench'],
      }))
      await call(app, 'POST', '/api/messaging/contacts/bulk-import/', token, rows)
    }
    const campaign = await call(app, 'POST', '/api/messaging/campaigns/', token, {
      name: 'Benchmark',
      message_text: 'Habari! Benchmark message.',
      target_criteria: { tags: ['bench'], opt_in_status: 'opted_in' },
    })
    ctx.log(`${recipients} contacts imported, campaign created; starting it`)
    const workers = await startDeliveryWorkers(services)
    const db = services.database.db
    const before = await services.store.headPosition()
    const started = performance.now()
    await call(app, 'POST', `/api/messaging/campaigns/${campaign.data.id}/start/`, token)
    let sentMs = 0
    let lastLog = started
    for (;;) {
      const stats = simulator.stats()
      if (!sentMs && stats.accepted + stats.rejected >= recipients) {
        const recorded = await countEvents(db, before, ['messageSent'])
        if (recorded >= stats.accepted) sentMs = performance.now() - started
      }
      const final = await countEvents(db, before, ['messageDelivered', 'messageFailed'])
      if (final >= recipients) break
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now()
        ctx.log(`${Math.round(lastLog - started)} ms: provider calls ${stats.sendCalls}, final outcomes ${final}/${recipients}`)
      }
      await sleep(POLL_MS)
    }
    const finalMs = performance.now() - started
    // the campaign completes by itself once every outcome is in; closing before that would leave
    // the completion reactor waiting for a read model that has stopped
    let completedMs: number | null = null
    while (performance.now() - started < finalMs + 30_000) {
      const { events } = await services.store.readStream(campaignStream(campaign.data.id as string), { direction: 'backward', limit: 1 })
      if (events[0]?.type === 'campaignCompleted') {
        completedMs = performance.now() - started
        break
      }
      await sleep(POLL_MS)
    }
    await workers.close()
    return { recipients, sentMs: sentMs || finalMs, finalMs, completedMs, simulator: simulator.stats() }
  } finally {
    await app.close()
    await services.close()
  }
}

export const benchmark: Benchmark = {
  name: 'delivery',
  description: 'delivery pipeline on the simulator: a campaign from start to every outcome recorded, vs BullMQ no-op jobs',
  usesDataset: false,
  async run(ctx: BenchContext): Promise<FigureResult[]> {
    const baseline = await ctx.baseline('bullmqNoop')
    const recipients = RECIPIENTS[ctx.mode]
    const measured = await measurePipeline(ctx, recipients)
    const value = (recipients / measured.finalMs) * 1000
    const ratio = ratioOf(value, baseline.value)
    ctx.log(`${recipients} messages sent and reported in ${Math.round(measured.finalMs)} ms = ${Math.round(value)} messages/s (${ratio?.toFixed(2)} × no-op jobs)`)
    return [
      {
        figure: `delivery pipeline, campaign of ${recipients.toLocaleString('en')} recipients (sent and reported)`,
        value,
        unit: 'messages/s',
        baseline,
        ratio,
        checks: [atLeast('messages/s', value, 2000, 'messages/s'), atLeastRatio(ratio, 0.15, 'BullMQ no-op jobs')],
        details: {
          recipients,
          finalMs: Math.round(measured.finalMs),
          sentMs: Math.round(measured.sentMs),
          completedMs: measured.completedMs === null ? null : Math.round(measured.completedMs),
          sentPerSecond: Math.round((recipients / measured.sentMs) * 1000),
          settings: PIPELINE_SETTINGS,
          simulator: measured.simulator,
        },
      },
    ]
  },
}
