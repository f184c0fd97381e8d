import { createHash } from 'node:crypto'
import {
  ProviderUnavailable,
  type ConnectionCheck,
  type DeliveryReport,
  type OutboundSms,
  type SendResult,
  type SmsProvider,
} from './smsProvider.ts'
import { systemClock, type Clock } from '../clock.ts'
import { describeError, silentSmsLog, type SmsLog } from './smsLog.ts'

/**
 * Where the simulator's delivery reports go. The pipeline wires it to POST the report, signed
 * with the tenant's webhook secret, to the service's own delivery-report route, so simulated
 * reports travel the same path as a real provider's. A sink that throws is retried.
 */
export type ReportSink = (tenantId: string, report: DeliveryReport) => Promise<void>

/**
 * A sink that takes several reports of one tenant at once (the delivery-report route takes up to
 * a thousand per call): the reports that fall due together go out in one call. A sink that
 * throws is retried with the whole batch.
 */
export type ReportBatchSink = (tenantId: string, reports: readonly DeliveryReport[]) => Promise<void>

export interface SimulatorSettings {
  /** every decision about a message comes from a generator seeded by (seed, message id) */
  seed: string
  /** share of accepted messages reported delivered (the rest are reported failed) */
  deliveryRate: number
  /** share of sends refused at once (a permanent rejection) */
  rejectionRate: number
  /** share of delivered messages later reported read */
  readRate: number
  /** each report comes this long (from minDelayMs to maxDelayMs) after the previous step */
  minDelayMs: number
  maxDelayMs: number
}

export interface SimulatorOptions extends SimulatorSettings {
  /** receives the delivery reports; without one no report is produced */
  reportSink?: ReportSink | null
  /** receives the delivery reports in batches; used instead of reportSink when given */
  reportBatchSink?: ReportBatchSink | null
  /** the most reports of one batch (default 500) */
  maxReportsPerBatch?: number
  /** false: accept and reject as usual but produce no delivery report (benchmarks of sending alone) */
  reports?: boolean
  /** tries of one report handed to the sink, the first included (default 5) */
  sinkAttempts?: number
  /** first pause between those tries, doubling (default 200 ms) */
  sinkBackoffMs?: number
  /**
   * how many message ids the simulator remembers for idempotency and counting (default 200,000);
   * beyond that the oldest are forgotten, and a repeat of a forgotten one counts as a new send
   * (with the same provider id and outcome, and reports the delivery-report route drops as repeats)
   */
  rememberLimit?: number
  /** timestamps of the reports */
  clock?: Clock
  logger?: SmsLog
}

/** What the simulator decided for one message: a pure function of (seed, message id). */
export interface SimulatedOutcome {
  providerMessageId: string
  /** refused at send, for good */
  rejected: boolean
  /** when accepted: reported delivered (else failed) */
  delivered: boolean
  /** when delivered: later reported read */
  read: boolean
  /** why it was rejected or failed, null otherwise */
  reason: string | null
  /** from acceptance to the delivered or failed report */
  outcomeDelayMs: number
  /** from the delivered report to the read report */
  readDelayMs: number
}

export interface SimulatorStats {
  /** every call of send(), repeats included */
  sendCalls: number
  /** distinct message ids accepted */
  accepted: number
  /** distinct message ids rejected */
  rejected: number
  /** calls that repeated a message id already seen (answered as the first time, not sent again) */
  duplicates: number
  /** reports the sink took */
  reportsDelivered: number
  /** reports given up after the sink failed every try (logged) */
  reportsLost: number
  /** reports scheduled and not yet handed over */
  reportsPending: number
}

const REJECTION_REASON = 'Simulated rejection: unreachable number'
const FAILURE_REASONS = [
  'Simulated failure: handset unreachable',
  'Simulated failure: delivery expired',
  'Simulated failure: network error',
] as const

/**
 * xoshiro128**: a small, fast generator of 32-bit words with a 128-bit state (public domain
 * algorithm by Blackman and Vigna), seeded here from SHA-256 of the seed and the message id.
 */
class Xoshiro128 {
  #s: Uint32Array

  constructor(seed: Buffer) {
    this.#s = new Uint32Array([seed.readUInt32LE(0), seed.readUInt32LE(4), seed.readUInt32LE(8), seed.readUInt32LE(12)])
    // the all-zero state is the generator's only fixed point
    if (this.#s.every((word) => word === 0)) this.#s[0] = 0x9e3779b9
  }

  /** a float in [0, 1) */
  next(): number {
    const s = this.#s
    const s0 = s[0]!
    const s1 = s[1]!
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    const t = (s1 << 9) >>> 0
    s[2] = s[2]! ^ s0
    s[3] = s[3]! ^ s1
    s[1] = s1 ^ s[2]!
    s[0] = s0 ^ s[3]!
    s[2] = s[2]! ^ t
    s[3] = rotl(s[3]!, 11)
    return result / 0x1_0000_0000
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0

/** The simulated outcome of one message; the same (seed, message id) always gives the same one. */
export function simulatedOutcome(settings: SimulatorSettings, messageId: string): SimulatedOutcome {
  const digest = createHash('sha256').update('mifumo-sms-simulator').update('\u0000').update(settings.seed).update('\u0000').update(messageId).digest()
  const random = new Xoshiro128(digest)
  // the draws always happen in this order, whatever they decide, so each decision keeps its
  // own draw and changing one rate never reshuffles the others
  const rejectDraw = random.next()
  const deliverDraw = random.next()
  const readDraw = random.next()
  const outcomeDelayDraw = random.next()
  const readDelayDraw = random.next()
  const reasonDraw = random.next()

  const rejected = rejectDraw < settings.rejectionRate
  const delivered = !rejected && deliverDraw < settings.deliveryRate
  const read = delivered && readDraw < settings.readRate
  const span = settings.maxDelayMs - settings.minDelayMs
  const delay = (draw: number): number => settings.minDelayMs + Math.min(span, Math.floor(draw * (span + 1)))
  let reason: string | null = null
  if (rejected) reason = REJECTION_REASON
  else if (!delivered) reason = FAILURE_REASONS[Math.min(FAILURE_REASONS.length - 1, Math.floor(reasonDraw * FAILURE_REASONS.length))]!
  return {
    providerMessageId: simulatedProviderMessageId(messageId),
    rejected,
    delivered,
    read,
    reason,
    outcomeDelayMs: delay(outcomeDelayDraw),
    readDelayMs: delay(readDelayDraw),
  }
}

/**
 * The simulator's id for a message: derived from our message id alone, so a send repeated after
 * a restart (when the simulator's memory is gone) still carries the same provider id, and the
 * delivery-report route, idempotent on that id, drops the repeated reports.
 */
export function simulatedProviderMessageId(messageId: string): string {
  return `sim_${createHash('sha256').update('mifumo-sms-simulator-id').update('\u0000').update(messageId).digest('hex').slice(0, 32)}`
}

interface Sent {
  result: SendResult
  calls: number
}

/**
 * The default provider: accepts or rejects each message and later reports its outcome, as a real
 * provider would, without leaving the machine. Deterministic: every decision for a message comes
 * from its own generator seeded by (seed, message id), so outcomes depend neither on the order
 * of sends nor on concurrency, and a rerun with the same seed decides the same way.
 *
 * Idempotent by message id (a real provider's idempotency key): a repeated send answers the first
 * answer again and is counted as a duplicate, not as a new send, and schedules no new report.
 */
export class SmsSimulator implements SmsProvider {
  readonly name = 'simulator'
  readonly #settings: SimulatorSettings
  readonly #sink: ReportSink | null
  readonly #batchSink: ReportBatchSink | null
  readonly #maxPerBatch: number
  /** reports due, per tenant, waiting for the next batch to go out */
  readonly #due = new Map<string, { report: DeliveryReport; then: () => void }[]>()
  #flushScheduled = false
  readonly #sinkAttempts: number
  readonly #sinkBackoffMs: number
  readonly #clock: Clock
  readonly #log: SmsLog
  readonly #rememberLimit: number
  readonly #sent = new Map<string, Sent>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #inFlight = new Set<Promise<void>>()
  #closed = false
  #stats = { sendCalls: 0, accepted: 0, rejected: 0, duplicates: 0, reportsDelivered: 0, reportsLost: 0 }
  #reportsPending = 0

  constructor(options: SimulatorOptions) {
    for (const rate of ['deliveryRate', 'rejectionRate', 'readRate'] as const) {
      const value = options[rate]
      if (!(value >= 0 && value <= 1)) throw new RangeError(`${rate} must be from 0 to 1, got ${value}`)
    }
    if (!(options.minDelayMs >= 0 && options.maxDelayMs >= options.minDelayMs)) {
      throw new RangeError(`delays must satisfy 0 <= minDelayMs <= maxDelayMs, got ${options.minDelayMs} and ${options.maxDelayMs}`)
    }
    this.#settings = {
      seed: options.seed,
      deliveryRate: options.deliveryRate,
      rejectionRate: options.rejectionRate,
      readRate: options.readRate,
      minDelayMs: Math.floor(options.minDelayMs),
      maxDelayMs: Math.floor(options.maxDelayMs),
    }
    this.#batchSink = options.reports === false ? null : (options.reportBatchSink ?? null)
    const single = options.reports === false ? null : (options.reportSink ?? null)
    // with a batch sink, #hand is never used: the sink field only says whether reports are produced
    this.#sink = this.#batchSink ? async (tenantId, report) => this.#batchSink!(tenantId, [report]) : single
    this.#maxPerBatch = Math.max(1, Math.floor(options.maxReportsPerBatch ?? 500))
    this.#sinkAttempts = Math.max(1, Math.floor(options.sinkAttempts ?? 5))
    this.#sinkBackoffMs = Math.max(0, options.sinkBackoffMs ?? 200)
    this.#clock = options.clock ?? systemClock
    this.#log = options.logger ?? silentSmsLog
    this.#rememberLimit = Math.max(1, Math.floor(options.rememberLimit ?? 200_000))
  }

  /** whether this simulator produces delivery reports */
  get reportsEnabled(): boolean {
    return this.#sink !== null
  }

  /** what this simulator decides (or decided) for a message, without sending it */
  outcomeFor(messageId: string): SimulatedOutcome {
    return simulatedOutcome(this.#settings, messageId)
  }

  async send(sms: OutboundSms): Promise<SendResult> {
    if (this.#closed) throw new ProviderUnavailable('the SMS simulator is closed')
    this.#stats.sendCalls++
    const earlier = this.#sent.get(sms.messageId)
    if (earlier) {
      earlier.calls++
      this.#stats.duplicates++
      return earlier.result
    }

    const outcome = simulatedOutcome(this.#settings, sms.messageId)
    const result: SendResult = outcome.rejected
      ? { status: 'rejected', reason: outcome.reason ?? REJECTION_REASON }
      : { status: 'accepted', providerMessageId: outcome.providerMessageId }
    this.#sent.set(sms.messageId, { result, calls: 1 })
    if (this.#sent.size > this.#rememberLimit) {
      // a Map iterates in insertion order: the first key is the oldest
      const oldest = this.#sent.keys().next()
      if (!oldest.done) this.#sent.delete(oldest.value)
    }
    if (outcome.rejected) {
      this.#stats.rejected++
      return result
    }
    this.#stats.accepted++
    if (this.#sink) this.#scheduleOutcome(sms, outcome)
    return result
  }

  async testConnection(): Promise<ConnectionCheck> {
    const s = this.#settings
    const reports = this.#sink ? `reports after ${s.minDelayMs}-${s.maxDelayMs} ms` : 'no delivery reports'
    return {
      ok: !this.#closed,
      provider: 'simulator',
      latency_ms: 0,
      detail: `SMS simulator (seed "${s.seed}"): rejects ${percent(s.rejectionRate)} of sends, delivers ${percent(s.deliveryRate)} of accepted messages, ${percent(s.readRate)} of delivered ones are read; ${reports}${this.#closed ? '; closed' : ''}`,
    }
  }

  stats(): SimulatorStats {
    return { ...this.#stats, reportsPending: this.#reportsPending }
  }

  /** how many times send() was called with this message id (0 when never) */
  sendCount(messageId: string): number {
    return this.#sent.get(messageId)?.calls ?? 0
  }

  /** message ids send() has seen (the remembered ones), in the order first seen */
  messageIds(): string[] {
    return [...this.#sent.keys()]
  }

  /**
   * Cancels the reports not yet due (and the retries of failed ones) and waits for the sink calls
   * under way. send() refuses afterwards (ProviderUnavailable).
   */
  async close(): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    this.#reportsPending = 0
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight])
  }

  #scheduleOutcome(sms: OutboundSms, outcome: SimulatedOutcome): void {
    const first: Omit<DeliveryReport, 'timestamp'> = outcome.delivered
      ? { reference: sms.messageId, provider_message_id: outcome.providerMessageId, status: 'delivered' }
      : { reference: sms.messageId, provider_message_id: outcome.providerMessageId, status: 'failed', reason: outcome.reason ?? FAILURE_REASONS[0] }
    this.#reportsPending++
    const hand = (report: Omit<DeliveryReport, 'timestamp'>, then: () => void): Promise<void> =>
      this.#batchSink ? this.#enqueue(sms.tenantId, report, then) : this.#hand(sms.tenantId, report, 1, then)
    this.#later(outcome.outcomeDelayMs, () =>
      hand(first, () => {
        // read comes only once delivered has been handed over
        if (!outcome.read) return
        this.#reportsPending++
        this.#later(outcome.readDelayMs, () => hand({ reference: sms.messageId, provider_message_id: outcome.providerMessageId, status: 'read' }, () => {}))
      }),
    )
  }

  /** Puts a report due now into its tenant's next batch, which goes out once the timers due together have run. */
  async #enqueue(tenantId: string, report: Omit<DeliveryReport, 'timestamp'>, then: () => void): Promise<void> {
    const list = this.#due.get(tenantId) ?? []
    list.push({ report: { ...report, timestamp: this.#clock.now().toISOString() }, then })
    this.#due.set(tenantId, list)
    if (this.#flushScheduled) return
    this.#flushScheduled = true
    setImmediate(() => {
      this.#flushScheduled = false
      if (this.#closed) return
      const due = [...this.#due]
      this.#due.clear()
      for (const [tenant, items] of due) {
        for (let start = 0; start < items.length; start += this.#maxPerBatch) {
          const batch = items.slice(start, start + this.#maxPerBatch)
          const running: Promise<void> = this.#handBatch(tenant, batch, 1)
            .catch((error: unknown) => this.#log.error({ err: describeError(error) }, 'simulated delivery reports failed'))
            .finally(() => this.#inFlight.delete(running))
          this.#inFlight.add(running)
        }
      }
    })
  }

  /** #hand for a batch: the whole batch is tried again after a doubling pause, then dropped and logged. */
  async #handBatch(tenantId: string, items: { report: DeliveryReport; then: () => void }[], attempt: number): Promise<void> {
    const sink = this.#batchSink
    if (!sink) return
    try {
      await sink(tenantId, items.map((item) => item.report))
    } catch (error) {
      if (attempt < this.#sinkAttempts && !this.#closed) {
        this.#later(this.#sinkBackoffMs * 2 ** (attempt - 1), () => this.#handBatch(tenantId, items, attempt + 1))
        return
      }
      this.#reportsPending = Math.max(0, this.#reportsPending - items.length)
      this.#stats.reportsLost += items.length
      this.#log.error({ err: describeError(error), tenantId, reports: items.length, attempts: attempt }, 'simulated delivery reports could not be handed over; dropped')
      return
    }
    this.#reportsPending = Math.max(0, this.#reportsPending - items.length)
    this.#stats.reportsDelivered += items.length
    if (!this.#closed) for (const item of items) item.then()
  }

  /**
   * Hands a report to the sink, timestamped now; on failure tries again after a doubling pause,
   * and after the last try logs and drops it (a later report of the same message is dropped too).
   */
  async #hand(tenantId: string, report: Omit<DeliveryReport, 'timestamp'>, attempt: number, then: () => void): Promise<void> {
    const sink = this.#sink
    if (!sink) return
    const stamped: DeliveryReport = { ...report, timestamp: this.#clock.now().toISOString() }
    try {
      await sink(tenantId, stamped)
    } catch (error) {
      if (attempt < this.#sinkAttempts && !this.#closed) {
        this.#later(this.#sinkBackoffMs * 2 ** (attempt - 1), () => this.#hand(tenantId, report, attempt + 1, then))
        return
      }
      this.#reportsPending = Math.max(0, this.#reportsPending - 1)
      this.#stats.reportsLost++
      this.#log.error(
        { err: describeError(error), tenantId, reference: report.reference, providerMessageId: report.provider_message_id, status: report.status, attempts: attempt },
        'simulated delivery report could not be handed over; dropped',
      )
      return
    }
    this.#reportsPending = Math.max(0, this.#reportsPending - 1)
    this.#stats.reportsDelivered++
    if (!this.#closed) then()
  }

  /** runs `task` after `delayMs` unless closed first; the timer does not keep the process alive */
  #later(delayMs: number, task: () => Promise<void>): void {
    if (this.#closed) return
    const timer = setTimeout(() => {
      this.#timers.delete(timer)
      if (this.#closed) return
      const running: Promise<void> = task()
        .catch((error: unknown) => this.#log.error({ err: describeError(error) }, 'simulated delivery report failed'))
        .finally(() => this.#inFlight.delete(running))
      this.#inFlight.add(running)
    }, delayMs)
    timer.unref()
    this.#timers.add(timer)
  }
}

const percent = (rate: number): string => `${Math.round(rate * 1000) / 10}%`
