import t from 'tap'
import { ConfigError, loadConfig } from '../../../infra/config.ts'
import { HttpSmsGateway } from '../../../infra/sms/httpGateway.ts'
import { openSmsProvider, providerRateLimit } from '../../../infra/sms/openSmsProvider.ts'
import { SmsSimulator } from '../../../infra/sms/smsSimulator.ts'
import { json, startFakeGateway } from './fakeGateway.ts'

t.test('the simulator by default, with its configured settings', async (t) => {
  const config = loadConfig({ SIMULATOR_SEED: 'abc', SIMULATOR_REJECTION_RATE: '0.2', SIMULATOR_MIN_DELAY_MS: '0', SIMULATOR_MAX_DELAY_MS: '10' })
  t.match(config.provider, {
    kind: 'simulator',
    maxPerSecond: 200,
    simulator: { seed: 'abc', rejectionRate: 0.2, deliveryRate: 0.95, readRate: 0.5, reports: true },
    gateway: { timeoutMs: 5000, attempts: 3, backoffMs: 200, maxRetryAfterMs: 10_000, healthUrl: undefined },
  })
  const reports: unknown[] = []
  const provider = openSmsProvider(config, { reportSink: async (_tenantId, report) => void reports.push(report) })
  t.teardown(() => provider.close())
  t.ok(provider instanceof SmsSimulator)
  t.equal(provider.name, 'simulator')
  t.equal((provider as SmsSimulator).reportsEnabled, true)
  t.match(await provider.testConnection(), { ok: true, provider: 'simulator', detail: /seed "abc"\): rejects 20% of sends/ })

  const quiet = openSmsProvider(loadConfig({ SIMULATOR_REPORTS: 'false' }), { reportSink: async () => {} })
  t.equal((quiet as SmsSimulator).reportsEnabled, false, 'SIMULATOR_REPORTS=false')
  const overridden = openSmsProvider(config, { reportSink: async () => {}, simulator: { reports: false } })
  t.equal((overridden as SmsSimulator).reportsEnabled, false, 'or an override from the pipeline')
  const sinkless = openSmsProvider(config)
  t.equal((sinkless as SmsSimulator).reportsEnabled, false, 'no sink, no reports')
  await Promise.all([quiet.close(), overridden.close(), sinkless.close()])
})

t.test('the HTTP gateway when SMS_PROVIDER=http', async (t) => {
  const server = await startFakeGateway(t, (_request, response) => json(response, 200, { provider_message_id: 'p-1' }))
  const config = loadConfig({
    SMS_PROVIDER: 'http',
    SMS_GATEWAY_URL: `${server.url}/send`,
    SMS_GATEWAY_API_KEY: 'key-1',
    SMS_GATEWAY_TIMEOUT_MS: '250',
    SMS_GATEWAY_ATTEMPTS: '2',
    SMS_GATEWAY_BACKOFF_MS: '10',
    SMS_GATEWAY_HEALTH_URL: `${server.url}/ping`,
    SMS_SENDER_ID: 'ACME',
  })
  const provider = openSmsProvider(config)
  t.teardown(() => provider.close())
  t.ok(provider instanceof HttpSmsGateway)
  t.equal(provider.name, 'http')
  const result = await provider.send({ messageId: 'm-1', tenantId: 't-1', to: '+255712345678', senderId: null, channel: 'sms', text: 'hi' })
  t.same(result, { status: 'accepted', providerMessageId: 'p-1' })
  t.match(JSON.parse(server.requests[0]!.body), { sender_id: 'ACME' }, 'SMS_SENDER_ID fills a missing sender id')
  t.equal(server.requests[0]!.headers['x-api-key'], 'key-1')
  t.match(await provider.testConnection(), { ok: true, provider: 'http' })
  t.equal(server.requests[1]!.path, '/ping')
})

t.test('configuration is validated', async (t) => {
  t.throws(() => loadConfig({ SMS_PROVIDER: 'http' }), ConfigError)
  t.throws(() => loadConfig({ SMS_PROVIDER: 'carrier-pigeon' }), ConfigError)
  t.throws(() => loadConfig({ SMS_PROVIDER: 'http', SMS_GATEWAY_URL: 'http://127.0.0.1:1/', SMS_GATEWAY_API_KEY: 'has space' }), /printable ASCII/)
  t.throws(() => loadConfig({ SMS_GATEWAY_HEALTH_URL: 'ftp://x' }), /SMS_GATEWAY_HEALTH_URL/)
  t.throws(() => loadConfig({ SIMULATOR_REPORTS: 'maybe' }), /SIMULATOR_REPORTS/)
  t.throws(() => loadConfig({ SMS_GATEWAY_MAX_RETRY_AFTER_MS: '-1' }), /SMS_GATEWAY_MAX_RETRY_AFTER_MS/)
})

t.test('the provider throughput as the send workers rate limit', async (t) => {
  t.same(providerRateLimit(loadConfig({})), { max: 200, durationMs: 1000 })
  t.same(providerRateLimit(loadConfig({ PROVIDER_MAX_PER_SECOND: '35' })), { max: 35, durationMs: 1000 })
})
