import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes } from 'node:crypto'
import { atLeast, atMost, type BenchContext, type BenchMode, type Benchmark, type FigureResult } from '../harness/benchmark.ts'
import { awaitMessage, forkTypeScript, type TypeScriptChild } from '../harness/childProcesses.ts'
import { createBenchDatabase } from '../harness/databases.ts'
import { startService } from '../harness/service.ts'
import type { CommanderOrder, CommandSample, ProbeMessage, SubscriberOrder } from '../freshness/probe.ts'

/**
 * Freshness: how long after a command's answer its activity reaches a live dashboard. The service
 * runs on a fresh database; one process keeps the tenant's activity stream (SSE) open, another
 * sends contact creates at a steady 500 per second (open loop: the schedule does not wait for
 * answers). For every command after the warm-up: the time from its HTTP answer arriving to its
 * `contact_added` activity arriving on the stream. Targets: p50 ≤ 10 ms, p99 ≤ 50 ms; the rate
 * actually reached is reported (and checked) beside them. A command whose activity never arrives
 * counts as infinitely late.
 */

export interface FreshnessSize {
  rate: number
  durationSeconds: number
  warmupSeconds: number
}

export const FRESHNESS_SIZES: Record<BenchMode, FreshnessSize> = {
  full: { rate: 500, durationSeconds: 12, warmupSeconds: 2 },
  quick: { rate: 500, durationSeconds: 4, warmupSeconds: 1 },
  smoke: { rate: 100, durationSeconds: 1.5, warmupSeconds: 0.5 },
}

const P50_LIMIT_MS = 10
const P99_LIMIT_MS = 50
/** the schedule counts as kept at this share of the asked rate */
const RATE_TOLERANCE = 0.95

const probeModule = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'freshness', 'probe.ts')

/** The q-quantile (nearest rank) of ascending values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

function round(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 100) / 100 : value
}

/** Delays from each command's answer to its activity on the stream, ascending (missing: Infinity). */
export function freshnessDelays(samples: readonly CommandSample[], arrivals: ReadonlyMap<string, number>): { delays: number[]; missing: number } {
  let missing = 0
  const delays = samples.map((sample) => {
    const seen = arrivals.get(sample.activityId)
    if (seen === undefined) {
      missing++
      return Infinity
    }
    // an activity may even arrive before the answer does: that is no delay at all
    return Math.max(0, seen - sample.answeredAt)
  })
  delays.sort((a, b) => a - b)
  return { delays, missing }
}

async function signUp(baseUrl: string): Promise<string> {
  const response = await fetch(`${baseUrl}/api/auth/register/`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: `freshness-${randomBytes(4).toString('hex')}@example.com`, password: 'bench-freshness-2026', first_name: 'Freshness', tenant_name: 'Freshness bench' }),
  })
  const text = await response.text()
  if (response.status !== 201) throw new Error(`registration answered ${response.status}: ${text.slice(0, 300)}`)
  return (JSON.parse(text) as { data: { access: string } }).data.access
}

function probeMessage<K extends ProbeMessage['kind']>(child: TypeScriptChild, kind: K, timeoutMs: number, what: string): Promise<Extract<ProbeMessage, { kind: K }>> {
  return awaitMessage(
    child,
    (message) => {
      const probe = message as ProbeMessage
      if (probe?.kind === 'probe-error') throw new Error(`${what}: ${probe.message}`)
      return probe?.kind === kind ? (probe as Extract<ProbeMessage, { kind: K }>) : undefined
    },
    timeoutMs,
    what,
  )
}

export const benchmark: Benchmark = {
  name: 'freshness',
  description: "time from a command's answer to its activity on the live stream, under 500 commands/s",
  usesDataset: false,
  async run(ctx: BenchContext) {
    const size = FRESHNESS_SIZES[ctx.mode]
    const database = await createBenchDatabase(ctx.postgresUrl, 'freshness')
    ctx.onCleanup(() => database.drop())
    const service = await startService({ databaseUrl: database.url })
    ctx.onCleanup(() => service.stop())
    const subscriber = forkTypeScript(probeModule)
    const commander = forkTypeScript(probeModule)
    ctx.onCleanup(() => subscriber.stop(2000))
    ctx.onCleanup(() => commander.stop(2000))
    try {
      const token = await signUp(service.baseUrl)
      const subscribed = probeMessage(subscriber, 'subscribed', 30_000, 'opening the activity stream')
      subscriber.process.send({ role: 'subscriber', baseUrl: service.baseUrl, token } satisfies SubscriberOrder)
      await subscribed

      ctx.log(`${size.rate} contact creates/s for ${size.durationSeconds} s (the first ${size.warmupSeconds} s not counted), activity stream open`)
      const answered = probeMessage(commander, 'commands', (size.durationSeconds + 60) * 1000, 'sending commands')
      commander.process.send({
        role: 'commander',
        baseUrl: service.baseUrl,
        token,
        rate: size.rate,
        durationSeconds: size.durationSeconds,
        warmupSeconds: size.warmupSeconds,
        maxConnections: 64,
        phoneBase: 1_000_000 + Math.floor(Math.random() * 1_000_000),
      } satisfies CommanderOrder)
      const commands = await answered
      if (commands.samples.length === 0) throw new Error(`no command answered in the measured window (${commands.failed} failed: ${commands.firstFailure ?? 'no answer'})`)

      // what the stream has received, asked until every sampled activity is in or 5 s have passed
      const arrivals = new Map<string, number>()
      const wanted = new Set(commands.samples.map((sample) => sample.activityId))
      const deadline = Date.now() + 5000
      for (;;) {
        const seen = probeMessage(subscriber, 'seen', 10_000, 'collecting the stream')
        subscriber.process.send({ kind: 'report' })
        for (const [id, at] of (await seen).arrivals) if (!arrivals.has(id)) arrivals.set(id, at)
        if ([...wanted].every((id) => arrivals.has(id)) || Date.now() >= deadline) break
        await new Promise((resolve) => setTimeout(resolve, 250))
      }

      const { delays, missing } = freshnessDelays(commands.samples, arrivals)
      const p50 = quantile(delays, 0.5)
      const p99 = quantile(delays, 0.99)
      const achievedRate = commands.answered / commands.seconds
      const commandLatencies = commands.samples.map((sample) => sample.answeredAt - sample.sentAt).sort((a, b) => a - b)
      ctx.log(
        `freshness p50 ${round(p50)} ms, p99 ${round(p99)} ms over ${delays.length} commands (${missing} never seen); ` +
          `${Math.round(achievedRate)} commands/s answered (${commands.failed} failed), command p50 ${round(quantile(commandLatencies, 0.5))} ms`,
      )
      const figure: FigureResult = {
        figure: `freshness: command answer → activity on the live stream, ${size.rate} commands/s`,
        value: round(p50),
        unit: 'ms (p50)',
        baseline: null,
        ratio: null,
        checks: [
          atMost('p50', p50, P50_LIMIT_MS, 'ms'),
          atMost('p99', p99, P99_LIMIT_MS, 'ms'),
          atLeast('command rate', achievedRate, Math.round(size.rate * RATE_TOLERANCE), 'commands/s'),
          { target: 'commands failed or never seen = 0', actual: String(commands.failed + missing), pass: commands.failed + missing === 0 },
        ],
        details: {
          p50Ms: round(p50),
          p90Ms: round(quantile(delays, 0.9)),
          p99Ms: round(p99),
          maxMs: round(delays.at(-1) ?? Number.NaN),
          sampled: delays.length,
          neverSeen: missing,
          commandsSent: commands.sent,
          commandsAnswered: commands.answered,
          commandsFailed: commands.failed,
          firstFailure: commands.firstFailure,
          askedRate: size.rate,
          achievedRate: Math.round(achievedRate),
          commandLatencyMs: { p50: round(quantile(commandLatencies, 0.5)), p99: round(quantile(commandLatencies, 0.99)) },
          command: 'POST /api/messaging/contacts/ (a new contact each: one contact_added activity)',
        },
      }
      return [figure]
    } finally {
      await commander.stop(2000)
      await subscriber.stop(2000)
      await service.stop()
    }
  },
}
