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
  /** prices for cost estimates and billing: per message part, per channel */
  pricing: {
    currency: string
    perPart: { sms: number; whatsapp: number }
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
    pricing: {
      currency: currency(env.PRICE_CURRENCY),
      perPart: { sms: price(env, 'PRICE_PER_PART_SMS', 0.25), whatsapp: price(env, 'PRICE_PER_PART_WHATSAPP', 0.5) },
    },
  }
}
