import type { SmsProvider } from './smsProvider.ts'
import type { Clock } from '../clock.ts'
import type { Config } from '../config.ts'
import { HttpSmsGateway } from './httpGateway.ts'
import type { SmsLog } from './smsLog.ts'
import { SmsSimulator, type ReportBatchSink, type ReportSink, type SimulatorSettings } from './smsSimulator.ts'

/** A provider adapter the composition root owns: close() at shutdown, after the send workers. */
export interface OpenedSmsProvider extends SmsProvider {
  close(): Promise<void>
}

export interface SmsProviderDependencies {
  /**
   * Where the simulator's delivery reports go (the service's own delivery-report route, signed
   * with the tenant's webhook secret). Without one the simulator produces no reports.
   */
  reportSink?: ReportSink | null
  /** the same, taking the reports that fall due together in one call (used instead of reportSink) */
  reportBatchSink?: ReportBatchSink | null
  clock?: Clock
  logger?: SmsLog
  /**
   * Overrides of the simulator's configured settings, for tests and the delivery benchmark:
   * `{reports: false}` (no delivery reports) or `{minDelayMs: 0, maxDelayMs: 0}` (reports at once).
   */
  simulator?: Partial<SimulatorSettings> & { reports?: boolean; sinkAttempts?: number; sinkBackoffMs?: number }
}

/** Builds the adapter `SMS_PROVIDER` names from the configuration. */
export function openSmsProvider(config: Pick<Config, 'provider'>, dependencies: SmsProviderDependencies = {}): OpenedSmsProvider {
  const provider = config.provider
  if (provider.kind === 'http') {
    const { url, apiKey } = provider.gateway
    // loadConfig refuses SMS_PROVIDER=http without these; a hand-made config may still lack them
    if (!url || !apiKey) throw new Error('the http SMS provider needs a gateway URL and API key')
    return new HttpSmsGateway({
      url,
      apiKey,
      timeoutMs: provider.gateway.timeoutMs,
      attempts: provider.gateway.attempts,
      backoffMs: provider.gateway.backoffMs,
      ...(provider.gateway.healthUrl ? { healthUrl: provider.gateway.healthUrl } : {}),
      maxRetryAfterMs: provider.gateway.maxRetryAfterMs,
      defaultSenderId: provider.defaultSenderId,
      ...(dependencies.logger ? { logger: dependencies.logger } : {}),
    })
  }
  const settings = { ...provider.simulator, ...dependencies.simulator }
  return new SmsSimulator({
    ...settings,
    reportSink: dependencies.reportSink ?? null,
    reportBatchSink: dependencies.reportBatchSink ?? null,
    ...(dependencies.clock ? { clock: dependencies.clock } : {}),
    ...(dependencies.logger ? { logger: dependencies.logger } : {}),
  })
}

/**
 * The provider's throughput (`PROVIDER_MAX_PER_SECOND`) as the send workers' queue rate limit:
 * at most `max` sends per `durationMs` across every worker of the send queue.
 */
export function providerRateLimit(config: Pick<Config, 'provider'>): { max: number; durationMs: number } {
  return { max: config.provider.maxPerSecond, durationMs: 1000 }
}
