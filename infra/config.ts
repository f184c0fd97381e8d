import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { isSupportedCountry } from 'libphonenumber-js/min'

/**
 * Configuration comes from environment variables, each with a documented default, and is
 * validated once at start-up: a bad value stops the process with a message naming the variable.
 * The README's configuration table lists the same variables.
 */
export interface Config {
  /** http listener */
  port: number
  host: string
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
  /** PostgreSQL connection string; unset means the embedded PGlite database under dataDir */
  databaseUrl: string | undefined
  /** where the embedded database keeps its files */
  dataDir: string
  /** Redis for BullMQ and shared rate limits; unset means in-process jobs and limits */
  redisUrl: string | undefined
  /** job queues on Redis */
  queue: {
    /** prefix of the queues' Redis keys (tests and parallel deployments isolate themselves with it) */
    prefix: string
    /** a BullMQ job's lock: a dead worker's jobs are taken back by another once it expires */
    lockDurationMs: number
    /** how often BullMQ workers look for jobs whose worker died */
    stalledIntervalMs: number
  }
  /** KurrentDB / EventStoreDB gRPC connection string; unset means the PostgreSQL event store */
  eventStoreUrl: string | undefined
  jwt: {
    secret: string
    /** true when no JWT_SECRET was given and a random one is in use (tokens die with the process) */
    secretIsEphemeral: boolean
    accessTtlSeconds: number
    refreshTtlSeconds: number
  }
  /** IANA zone for new tenants that do not choose one */
  defaultTimezone: string
  /** ISO 3166 country whose local phone numbers (0712…) new tenants read */
  defaultCountry: string
  /** run the projectors in this process */
  runProjections: boolean
  /** longest a query may wait for `min_position` before answering */
  readYourWritesTimeoutMs: number
  /** size of the PostgreSQL connection pool */
  databasePoolSize: number
  /** enforce the spec's per-user rate limits (counters in Redis when redisUrl is set) */
  rateLimitsEnabled: boolean
  /** when set, GET /metrics wants `Authorization: Bearer <this>`; unset, /metrics is open (keep it off public networks) */
  metricsToken: string | undefined
  /** a comment line goes down every open activity stream (SSE) this often, so proxies keep it open (at most 60 s: idle sockets close after 120 s) */
  activityStreamHeartbeatMs: number
  /** prices for cost estimates and billing: per message part, per channel */
  pricing: {
    currency: string
    perPart: { sms: number; whatsapp: number }
  }
  /** how messages leave the platform */
  provider: {
    kind: 'simulator' | 'http'
    /** at most this many sends per second through the provider, across all workers */
    maxPerSecond: number
    /** sender id used when a request names none */
    defaultSenderId: string
    gateway: {
      url: string | undefined
      apiKey: string | undefined
      timeoutMs: number
      /** tries of one send inside the adapter, the first included, on 5xx, network errors and timeouts */
      attempts: number
      /** first pause between those tries, doubling */
      backoffMs: number
      /** what the connection test GETs; unset means `/health` on the gateway's host */
      healthUrl: string | undefined
      /** a 429's Retry-After up to this long is waited for; a longer one fails the send (retried later) */
      maxRetryAfterMs: number
    }
    simulator: {
      seed: string
      /** share of accepted messages reported delivered (the rest are reported failed) */
      deliveryRate: number
      /** share of sends the simulator refuses at once (a permanent rejection) */
      rejectionRate: number
      /** share of delivered messages later reported read */
      readRate: number
      minDelayMs: number
      maxDelayMs: number
      /** produce delivery reports (false: accept and reject only, for benchmarks of sending) */
      reports: boolean
    }
  }
  /** the delivery pipeline */
  delivery: {
    /** run the send workers (and the scheduled-start and completion jobs) in this process */
    runWorkers: boolean
    /** sends in flight per worker process */
    concurrency: number
    /** tries of one send job, the first included */
    attempts: number
    backoffMs: number
    /** a running campaign completes by itself this long after it started, whatever is pending */
    campaignTimeoutSeconds: number
  }
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

type Env = Record<string, string | undefined>

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer from ${min} to ${max}, got "${raw}"`)
  }
  return value
}

function price(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim()
  if (!raw) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new ConfigError(`${name} must be a non-negative number, got "${raw}"`)
  return value
}

function ratio(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim()
  if (!raw) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0 || value > 1) throw new ConfigError(`${name} must be a number from 0 to 1, got "${raw}"`)
  return value
}

function boolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return fallback
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true
  if (['0', 'false', 'no', 'off'].includes(raw)) return false
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`)
}

function optionalUrl(env: Env, name: string, protocols: string[]): string | undefined {
  const raw = env[name]?.trim()
  if (!raw) return undefined
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(`${name} is not a valid URL`)
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(`${name} must use one of ${protocols.join(', ')}`)
  }
  return raw
}

/** Seconds from "900", "15m", "12h" or "7d". */
function duration(env: Env, name: string, fallback: number): number {
  const raw = env[name]?.trim()
  if (!raw) return fallback
  const match = /^(\d+)\s*([smhd]?)$/.exec(raw)
  if (!match) throw new ConfigError(`${name} must be a duration like 900, 15m, 12h or 7d, got "${raw}"`)
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd']
  const seconds = Number(match[1]) * unit
  if (seconds < 1) throw new ConfigError(`${name} must be at least one second`)
  return seconds
}

export function isValidTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** A folder, resolved against the working directory, or `memory://` for an in-memory database. */
function dataDirectory(raw: string): string {
  return raw.startsWith('memory://') ? raw : path.resolve(raw)
}

function currency(raw: string | undefined): string {
  const code = (raw?.trim() || 'USD').toUpperCase()
  if (!/^[A-Z]{3}$/.test(code)) throw new ConfigError(`PRICE_CURRENCY must be a three-letter currency code, got "${raw}"`)
  return code
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export function loadConfig(env: Env = process.env): Config {
  const logLevel = (env.LOG_LEVEL?.trim() || 'info') as Config['logLevel']
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}`)

  const defaultTimezone = env.DEFAULT_TIMEZONE?.trim() || 'Africa/Dar_es_Salaam'
  if (!isValidTimeZone(defaultTimezone)) throw new ConfigError(`DEFAULT_TIMEZONE "${defaultTimezone}" is not an IANA time zone`)

  const defaultCountry = (env.DEFAULT_COUNTRY?.trim() || 'TZ').toUpperCase()
  if (!isSupportedCountry(defaultCountry)) throw new ConfigError(`DEFAULT_COUNTRY "${defaultCountry}" is not a supported ISO 3166 country code`)

  const givenSecret = env.JWT_SECRET?.trim()
  if (givenSecret !== undefined && givenSecret !== '' && givenSecret.length < 32) {
    throw new ConfigError('JWT_SECRET must be at least 32 characters')
  }

  return {
    port: integer(env, 'PORT', 3000, 0, 65535),
    host: env.HOST?.trim() || '127.0.0.1',
    logLevel,
    databaseUrl: optionalUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: dataDirectory(env.DATA_DIR?.trim() || '.data'),
    redisUrl: optionalUrl(env, 'REDIS_URL', ['redis:', 'rediss:']),
    queue: queueConfig(env),
    eventStoreUrl: optionalUrl(env, 'EVENTSTORE_URL', ['esdb:', 'esdb+discover:', 'kurrentdb:', 'kurrentdb+discover:', 'kdb:', 'kdb+discover:']),
    jwt: {
      secret: givenSecret || randomBytes(48).toString('base64url'),
      secretIsEphemeral: !givenSecret,
      accessTtlSeconds: duration(env, 'JWT_ACCESS_TTL', 15 * 60),
      refreshTtlSeconds: duration(env, 'JWT_REFRESH_TTL', 7 * 86400),
    },
    defaultTimezone,
    defaultCountry,
    runProjections: boolean(env, 'RUN_PROJECTIONS', true),
    readYourWritesTimeoutMs: integer(env, 'READ_YOUR_WRITES_TIMEOUT_MS', 5000, 0, 60000),
    databasePoolSize: integer(env, 'DATABASE_POOL_SIZE', 10, 2, 200),
    rateLimitsEnabled: boolean(env, 'RATE_LIMITS_ENABLED', true),
    metricsToken: metricsToken(env.METRICS_TOKEN),
    activityStreamHeartbeatMs: integer(env, 'SSE_HEARTBEAT_MS', 15_000, 100, 60_000),
    pricing: {
      currency: currency(env.PRICE_CURRENCY),
      perPart: { sms: price(env, 'PRICE_PER_PART_SMS', 0.25), whatsapp: price(env, 'PRICE_PER_PART_WHATSAPP', 0.5) },
    },
    provider: providerConfig(env),
    delivery: {
      runWorkers: boolean(env, 'DELIVERY_WORKERS', true),
      concurrency: integer(env, 'SEND_CONCURRENCY', 20, 1, 1000),
      attempts: integer(env, 'SEND_ATTEMPTS', 5, 1, 100),
      backoffMs: integer(env, 'SEND_BACKOFF_MS', 1000, 1, 3_600_000),
      campaignTimeoutSeconds: duration(env, 'CAMPAIGN_COMPLETION_TIMEOUT', 24 * 3600),
    },
  }
}

function metricsToken(raw: string | undefined): string | undefined {
  const token = raw?.trim()
  if (!token) return undefined
  if (token.length < 16 || !/^[\x21-\x7e]+$/.test(token)) throw new ConfigError('METRICS_TOKEN must be at least 16 printable ASCII characters without spaces')
  return token
}

function queueConfig(env: Env): Config['queue'] {
  const prefix = env.QUEUE_PREFIX?.trim() || 'mifumo'
  if (!/^[A-Za-z0-9_.{}-]{1,100}$/.test(prefix)) throw new ConfigError('QUEUE_PREFIX must be 1 to 100 letters, digits, _ . - { } (no ":")')
  return {
    prefix,
    lockDurationMs: integer(env, 'QUEUE_LOCK_MS', 30_000, 1000, 3_600_000),
    stalledIntervalMs: integer(env, 'QUEUE_STALLED_INTERVAL_MS', 30_000, 500, 3_600_000),
  }
}

function providerConfig(env: Env): Config['provider'] {
  const kind = (env.SMS_PROVIDER?.trim() || 'simulator') as Config['provider']['kind']
  if (kind !== 'simulator' && kind !== 'http') throw new ConfigError(`SMS_PROVIDER must be simulator or http, got "${env.SMS_PROVIDER}"`)
  const url = optionalUrl(env, 'SMS_GATEWAY_URL', ['http:', 'https:'])
  const apiKey = env.SMS_GATEWAY_API_KEY?.trim() || undefined
  if (kind === 'http' && (!url || !apiKey)) throw new ConfigError('SMS_PROVIDER=http needs SMS_GATEWAY_URL and SMS_GATEWAY_API_KEY')
  // it travels in HTTP headers: printable ASCII without spaces
  if (apiKey !== undefined && !/^[\x21-\x7e]+$/.test(apiKey)) throw new ConfigError('SMS_GATEWAY_API_KEY must be printable ASCII without spaces')
  const minDelayMs = integer(env, 'SIMULATOR_MIN_DELAY_MS', 50, 0, 3_600_000)
  const maxDelayMs = integer(env, 'SIMULATOR_MAX_DELAY_MS', 500, 0, 3_600_000)
  if (maxDelayMs < minDelayMs) throw new ConfigError('SIMULATOR_MAX_DELAY_MS must not be below SIMULATOR_MIN_DELAY_MS')
  const defaultSenderId = env.SMS_SENDER_ID?.trim() || 'MIFUMO'
  if (!/^[A-Za-z0-9 ]{1,11}$|^\+?\d{3,15}$/.test(defaultSenderId)) {
    throw new ConfigError('SMS_SENDER_ID must be up to 11 letters and digits, or a phone number')
  }
  return {
    kind,
    maxPerSecond: integer(env, 'PROVIDER_MAX_PER_SECOND', 200, 1, 100_000),
    defaultSenderId,
    gateway: {
      url,
      apiKey,
      timeoutMs: integer(env, 'SMS_GATEWAY_TIMEOUT_MS', 5000, 1, 120_000),
      attempts: integer(env, 'SMS_GATEWAY_ATTEMPTS', 3, 1, 20),
      backoffMs: integer(env, 'SMS_GATEWAY_BACKOFF_MS', 200, 1, 60_000),
      healthUrl: optionalUrl(env, 'SMS_GATEWAY_HEALTH_URL', ['http:', 'https:']),
      maxRetryAfterMs: integer(env, 'SMS_GATEWAY_MAX_RETRY_AFTER_MS', 10_000, 0, 600_000),
    },
    simulator: {
      seed: env.SIMULATOR_SEED?.trim() || 'mifumo',
      deliveryRate: ratio(env, 'SIMULATOR_DELIVERY_RATE', 0.95),
      rejectionRate: ratio(env, 'SIMULATOR_REJECTION_RATE', 0.01),
      readRate: ratio(env, 'SIMULATOR_READ_RATE', 0.5),
      minDelayMs,
      maxDelayMs,
      reports: boolean(env, 'SIMULATOR_REPORTS', true),
    },
  }
}
