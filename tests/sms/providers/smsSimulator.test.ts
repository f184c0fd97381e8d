import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { ProviderUnavailable, type DeliveryReport, type OutboundSms } from '../../../infra/sms/smsProvider.ts'
import { ManualClock } from '../../../infra/clock.ts'
import { deterministicId } from '../../../infra/ids.ts'
import { SmsSimulator, simulatedOutcome, type ReportSink, type SimulatorOptions } from '../../../infra/sms/smsSimulator.ts'
import { eventually } from '../../support/eventually.ts'

const TENANT = 'a1f4c2de-0000-4000-8000-000000000001'

const sms = (messageId: string, tenantId = TENANT): OutboundSms => ({
  messageId,
  tenantId,
  to: '+255712345678',
  senderId: 'MIFUMO',
  channel: 'sms',
  text: 'Habari!',
})

const settings = { seed: 'test-seed', deliveryRate: 0.8, rejectionRate: 0.1, readRate: 0.5, minDelayMs: 0, maxDelayMs: 20 }

const simulator = (overrides: Partial<SimulatorOptions> = {}): SmsSimulator => new SmsSimulator({ ...settings, ...overrides })

/** A sink that records what it is given, in order. */
function recordingSink(): { sink: ReportSink; reports: { tenantId: string; report: DeliveryReport }[] } {
  const reports: { tenantId: string; report: DeliveryReport }[] = []
  return { reports, sink: async (tenantId, report) => void reports.push({ tenantId, report }) }
}

const ids = (count: number, namespace = 'ids'): string[] => Array.from({ length: count }, (_, i) => deterministicId(namespace, String(i)))

t.test('deterministic: the same seed decides the same for each message, whatever the order; another seed differs', async (t) => {
  const messageIds = ids(300)
  const first = simulator({ reports: false })
  const second = simulator({ reports: false })
  const inOrder = new Map<string, unknown>()
  for (const id of messageIds) inOrder.set(id, await first.send(sms(id)))
  // the other one sends in reverse, all at once
  const reversed = [...messageIds].reverse()
  const concurrent = await Promise.all(reversed.map((id) => second.send(sms(id))))
  t.same(concurrent, reversed.map((id) => inOrder.get(id)), 'the same answers, sent in reverse and concurrently')
  t.same(
    messageIds.map((id) => first.outcomeFor(id)),
    messageIds.map((id) => second.outcomeFor(id)),
    'the same outcomes, delays included',
  )

  const otherSeed = simulator({ seed: 'another-seed', reports: false })
  const decisions = (sim: SmsSimulator, id: string): string => {
    const { rejected, delivered, read } = sim.outcomeFor(id)
    return `${rejected}/${delivered}/${read}`
  }
  const differing = messageIds.filter((id) => decisions(otherSeed, id) !== decisions(first, id))
  t.ok(differing.length > messageIds.length / 5, `another seed decides differently (${differing.length} of ${messageIds.length} messages)`)
  const otherDelays = messageIds.filter((id) => otherSeed.outcomeFor(id).outcomeDelayMs !== first.outcomeFor(id).outcomeDelayMs)
  t.ok(otherDelays.length > messageIds.length / 2, 'and draws other delays')
  t.equal(otherSeed.outcomeFor(messageIds[0]!).providerMessageId, first.outcomeFor(messageIds[0]!).providerMessageId, 'the provider id depends on the message id alone')
})

t.test('rates over 10,000 messages are roughly the configured ones, delays within bounds', async (t) => {
  const rates = { seed: 'rates', deliveryRate: 0.8, rejectionRate: 0.1, readRate: 0.5, minDelayMs: 100, maxDelayMs: 300 }
  const sim = new SmsSimulator({ ...rates, reports: false })
  let rejected = 0
  let delivered = 0
  let failed = 0
  let read = 0
  let minDelay = Infinity
  let maxDelay = -Infinity
  const wrongAnswers: string[] = []
  for (const id of ids(10_000, 'rates')) {
    const result = await sim.send(sms(id))
    const outcome = sim.outcomeFor(id)
    if (result.status !== (outcome.rejected ? 'rejected' : 'accepted')) wrongAnswers.push(id)
    if (outcome.rejected) {
      rejected++
      continue
    }
    if (outcome.delivered) delivered++
    else failed++
    if (outcome.read) read++
    for (const delay of [outcome.outcomeDelayMs, outcome.readDelayMs]) {
      minDelay = Math.min(minDelay, delay)
      maxDelay = Math.max(maxDelay, delay)
    }
  }
  const accepted = 10_000 - rejected
  t.same(wrongAnswers, [], 'send() answers as outcomeFor() decided')
  t.ok(Math.abs(rejected / 10_000 - 0.1) < 0.02, `rejected ${rejected / 100}% ≈ 10%`)
  t.ok(Math.abs(delivered / accepted - 0.8) < 0.03, `delivered ${((100 * delivered) / accepted).toFixed(1)}% of accepted ≈ 80%`)
  t.ok(Math.abs(read / delivered - 0.5) < 0.03, `read ${((100 * read) / delivered).toFixed(1)}% of delivered ≈ 50%`)
  t.equal(delivered + failed, accepted)
  t.ok(minDelay >= 100 && maxDelay <= 300, `delays within [100, 300] (${minDelay}..${maxDelay})`)
  t.ok(minDelay < 110 && maxDelay > 290, 'and spread over that range')
  t.match(sim.stats(), { sendCalls: 10_000, accepted, rejected, duplicates: 0, reportsPending: 0 })

  const never = { ...rates, rejectionRate: 0, deliveryRate: 1, readRate: 1 }
  const always = { ...rates, rejectionRate: 1 }
  t.ok(ids(500).every((id) => { const o = simulatedOutcome(never, id); return !o.rejected && o.delivered && o.read }), 'rates of 0 and 1 are exact')
  t.ok(ids(500).every((id) => simulatedOutcome(always, id).rejected))
  t.ok(ids(500).every((id) => !simulatedOutcome({ ...rates, deliveryRate: 0 }, id).delivered))
})

t.test('a repeated send answers the same and counts once', async (t) => {
  const { sink, reports } = recordingSink()
  const sim = simulator({ rejectionRate: 0, deliveryRate: 1, readRate: 0, reportSink: sink })
  const id = randomUUID()
  const first = await sim.send(sms(id))
  t.equal(first.status, 'accepted')
  t.same(await sim.send(sms(id)), first, 'the same provider message id')
  t.same(await sim.send(sms(id)), first)
  t.equal(sim.sendCount(id), 3)
  t.equal(sim.sendCount(randomUUID()), 0)
  t.match(sim.stats(), { sendCalls: 3, accepted: 1, rejected: 0, duplicates: 2 })
  await eventually(async () => reports.length, (count) => count >= 1, 2000)
  await sleep(60)
  t.equal(reports.length, 1, 'one report: the duplicates scheduled none')

  const rejecting = simulator({ rejectionRate: 1 })
  const rejectedId = randomUUID()
  const refused = await rejecting.send(sms(rejectedId))
  t.same(refused, { status: 'rejected', reason: 'Simulated rejection: unreachable number' })
  t.same(await rejecting.send(sms(rejectedId)), refused, 'a rejection is answered again too')
  t.match(rejecting.stats(), { sendCalls: 2, accepted: 0, rejected: 1, duplicates: 1 })
  await sim.close()
})

t.test('it remembers a bounded number of message ids; a forgotten one is answered the same', async (t) => {
  const sim = simulator({ rejectionRate: 0, reports: false, rememberLimit: 3 })
  const [a, b, c, d] = ids(4, 'remember')
  const first = await sim.send(sms(a!))
  for (const id of [b, c, d]) await sim.send(sms(id!))
  t.same(sim.messageIds(), [b, c, d], 'the oldest was forgotten')
  t.same(await sim.send(sms(a!)), first, 'the same provider id again')
  t.match(sim.stats(), { sendCalls: 5, accepted: 5, duplicates: 0 }, 'counted as a new send once forgotten')
})

t.test('delivery reports reach the sink with the references, provider ids and statuses; read only after delivered', async (t) => {
  const { sink, reports } = recordingSink()
  const clock = new ManualClock('2026-04-01T10:00:00Z')
  const sim = simulator({ reportSink: sink, clock, minDelayMs: 0, maxDelayMs: 30 })
  t.teardown(() => sim.close())
  const messageIds = ids(200, 'reports')
  const tenants = new Map(messageIds.map((id, i) => [id, i % 2 === 0 ? TENANT : 'b2f4c2de-0000-4000-8000-000000000002']))
  const results = new Map(await Promise.all(messageIds.map(async (id) => [id, await sim.send(sms(id, tenants.get(id)))] as const)))

  const accepted = messageIds.filter((id) => results.get(id)!.status === 'accepted')
  const expectedReports = accepted.reduce((sum, id) => sum + (sim.outcomeFor(id).read ? 2 : 1), 0)
  await eventually(async () => reports.length, (count) => count >= expectedReports, 5000)
  await sleep(50)
  t.equal(reports.length, expectedReports, 'one report per outcome, one more per read')
  t.equal(sim.stats().reportsDelivered, expectedReports)
  t.equal(sim.stats().reportsPending, 0)

  // what each message's reports should be, computed here from the outcomes, against what came
  const expected = new Map<string, unknown>()
  const received = new Map<string, unknown>()
  for (const id of messageIds) {
    const result = results.get(id)!
    const outcome = sim.outcomeFor(id)
    const providerId = result.status === 'accepted' ? result.providerMessageId : null
    const base = { tenantId: tenants.get(id), reference: id, provider_message_id: providerId, timestamp: '2026-04-01T10:00:00.000Z' }
    expected.set(
      id,
      result.status === 'rejected'
        ? []
        : outcome.delivered
          ? [{ ...base, status: 'delivered' }, ...(outcome.read ? [{ ...base, status: 'read' }] : [])]
          : [{ ...base, status: 'failed', reason: outcome.reason }],
    )
    received.set(id, reports.filter(({ report }) => report.reference === id).map(({ tenantId, report }) => ({ tenantId, ...report })))
  }
  t.same(received, expected, 'each accepted message: its tenant, reference, provider id, clock time; delivered then read, or failed with a reason')
  t.ok(reports.filter(({ report }) => report.status === 'failed').every(({ report }) => /^Simulated failure: /.test(report.reason ?? '')))
  const statuses = new Set(reports.map(({ report }) => report.status))
  t.same([...statuses].sort(), ['delivered', 'failed', 'read'], 'all three kinds were seen')
})

t.test('a failing sink is retried with backoff; one that never works is logged, never thrown into send()', async (t) => {
  const calls = new Map<string, number>()
  const reports: DeliveryReport[] = []
  const flaky: ReportSink = async (_tenantId, report) => {
    const key = `${report.reference}/${report.status}`
    const count = (calls.get(key) ?? 0) + 1
    calls.set(key, count)
    if (count < 3) throw new Error('report route unavailable')
    reports.push(report)
  }
  const sim = simulator({ rejectionRate: 0, deliveryRate: 1, readRate: 1, reportSink: flaky, sinkAttempts: 4, sinkBackoffMs: 10 })
  const id = randomUUID()
  await sim.send(sms(id))
  await eventually(async () => reports.length, (count) => count === 2, 3000)
  t.same(reports.map((report) => report.status), ['delivered', 'read'], 'read waited for delivered to get through')
  t.equal(calls.get(`${id}/delivered`), 3)
  t.equal(calls.get(`${id}/read`), 3)
  await sim.close()

  const logged: object[] = []
  const broken = simulator({
    rejectionRate: 0,
    deliveryRate: 1,
    readRate: 1,
    reportSink: async () => {
      throw new Error('down')
    },
    sinkAttempts: 3,
    sinkBackoffMs: 5,
    logger: { warn: () => {}, error: (object) => void logged.push(object) },
  })
  const lost = randomUUID()
  t.match(await broken.send(sms(lost)), { status: 'accepted' }, 'send() is untouched by the sink')
  await eventually(async () => broken.stats().reportsLost, (count) => count === 1, 3000)
  t.match(logged[0], { reference: lost, status: 'delivered', attempts: 3, err: 'down' })
  await sleep(60)
  t.equal(broken.stats().reportsLost, 1, 'no read report follows a delivered report that was lost')
  await broken.close()
})

t.test('close() cancels pending reports and waits for the sink calls under way', async (t) => {
  const { sink, reports } = recordingSink()
  const sim = simulator({ rejectionRate: 0, reportSink: sink, minDelayMs: 200, maxDelayMs: 300 })
  for (const id of ids(20, 'close')) await sim.send(sms(id))
  t.equal(sim.stats().reportsPending, 20)
  await sim.close()
  t.equal(sim.stats().reportsPending, 0)
  await sleep(350)
  t.equal(reports.length, 0, 'no report after close()')
  await t.rejects(sim.send(sms(randomUUID())), ProviderUnavailable, 'a closed simulator sends nothing')
  t.match(await sim.testConnection(), { ok: false })

  let finished = false
  let started = false
  const slow = simulator({
    rejectionRate: 0,
    minDelayMs: 0,
    maxDelayMs: 0,
    reportSink: async () => {
      started = true
      await sleep(100)
      finished = true
    },
  })
  await slow.send(sms(randomUUID()))
  await eventually(async () => started, (value) => value, 2000)
  await slow.close()
  t.ok(finished, 'close() resolved after the sink call in flight ended')
})

t.test('reports can be turned off; delays of 0 report at once', async (t) => {
  const { sink, reports } = recordingSink()
  const off = simulator({ rejectionRate: 0, reportSink: sink, reports: false, minDelayMs: 0, maxDelayMs: 0 })
  t.equal(off.reportsEnabled, false)
  for (const id of ids(10, 'off')) await off.send(sms(id))
  await sleep(30)
  t.equal(reports.length, 0)
  t.match(await off.testConnection(), { detail: /no delivery reports/ })

  const immediate = simulator({ rejectionRate: 0, deliveryRate: 1, readRate: 0, reportSink: sink, minDelayMs: 0, maxDelayMs: 0 })
  for (const id of ids(10, 'immediate')) await immediate.send(sms(id))
  await eventually(async () => reports.length, (count) => count === 10, 1000)
  await immediate.close()
})

t.test('testConnection names the rates', async (t) => {
  const check = await simulator({ reportSink: async () => {} }).testConnection()
  t.match(check, { ok: true, provider: 'simulator', latency_ms: 0 })
  t.match(check.detail, /rejects 10% of sends, delivers 80% of accepted messages, 50% of delivered ones are read; reports after 0-20 ms/)
})

t.test('bad settings are refused', async (t) => {
  t.throws(() => simulator({ deliveryRate: 1.5 }), RangeError)
  t.throws(() => simulator({ minDelayMs: 50, maxDelayMs: 10 }), RangeError)
})
