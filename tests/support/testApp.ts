import type { FastifyInstance, InjectOptions } from 'fastify'
import { buildApp, openServices, type Services } from '../../app.ts'
import { ManualClock, type Clock } from '../../infra/clock.ts'
import { loadConfig } from '../../infra/config.ts'
import type { Mailer } from '../../infra/mail/mailer.ts'
import { createTestDatabase, type TestDatabase } from './testDatabase.ts'
import { dropQueueKeys } from './queueKeys.ts'

export interface TestApp {
  app: FastifyInstance
  services: Services
  database: TestDatabase
  clock: Clock
}

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export const TEST_JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-signing'

/** The whole service against a fresh PostgreSQL database of its own, closed when the test ends. */
export async function startTestApp(
  t: Teardown,
  options: { clock?: Clock; label?: string; env?: Record<string, string>; mailer?: Mailer } = {},
): Promise<TestApp> {
  const database = await createTestDatabase(options.label ?? 'app')
  const clock = options.clock ?? new ManualClock('2026-03-10T09:00:00Z')
  // generous read-your-writes waits: on a shared test server, another file's CREATE DATABASE holds
  // back every reader of the global log for a moment (see infra/eventStore/postgresEventStore.ts)
  // rate limits are off unless a test turns them on (RATE_LIMITS_ENABLED: 'true') to test them:
  // a test file makes far more requests per minute from one user than the spec allows
  const config = loadConfig({
    DATABASE_URL: database.url,
    JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: 'silent',
    READ_YOUR_WRITES_TIMEOUT_MS: '30000',
    RATE_LIMITS_ENABLED: 'false',
    // no send workers unless a test turns them on: messages stay queued, and tests record their
    // outcomes themselves; the delivery-pipeline tests run the workers
    DELIVERY_WORKERS: 'false',
    // queues of its own when a test uses Redis: no job of one test is ever taken by another's workers
    QUEUE_PREFIX: `test-${database.name}`,
    ...options.env,
  })
  const services = await openServices(config, { clock, mailer: options.mailer })
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
    await database.drop()
    // the queues' keys, when they were on Redis
    if (config.redisUrl) await dropQueueKeys(config.queue.prefix)
  })
  return { app, services, database, clock }
}

export interface Session {
  access: string
  refresh: string
  userId: string
  tenantId: string
  headers: { authorization: string }
}

let userCounter = 0

export async function registerUser(
  app: FastifyInstance,
  overrides: Partial<{ email: string; password: string; first_name: string; last_name: string; tenant_name: string; timezone: string }> = {},
): Promise<Session> {
  userCounter++
  const response = await app.inject({
    method: 'POST',
    url: '/api/auth/register/',
    payload: {
      email: `user${userCounter}-${Date.now()}@example.com`,
      password: 'correct horse battery',
      first_name: 'David',
      last_name: 'Ochieng',
      ...overrides,
    },
  })
  if (response.statusCode !== 201) throw new Error(`registration failed: ${response.statusCode} ${response.body}`)
  const { data } = response.json()
  return {
    access: data.access,
    refresh: data.refresh,
    userId: data.user.id,
    tenantId: data.user.tenant_id,
    headers: { authorization: `Bearer ${data.access}` },
  }
}

/** inject with the session's bearer token */
export function as(session: Session, options: InjectOptions): InjectOptions {
  return { ...options, headers: { ...session.headers, ...(options.headers ?? {}) } }
}

/** The claims of a JWT (its payload, not verified) */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8'))
}
