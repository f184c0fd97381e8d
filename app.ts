import path from 'node:path'
import { randomUUID } from 'node:crypto'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { pino, type Logger } from 'pino'
import type { CountryCode } from 'libphonenumber-js/min'
import { authRoutes } from './commands/users/authRoutes.ts'
import { contactRoutes } from './commands/contacts/contactRoutes.ts'
import { segmentRoutes } from './commands/segments/segmentRoutes.ts'
import { segmentCatalog } from './projections/segmentCatalog.ts'
import { matchingContactCounter } from './projections/contactCriteria.ts'
import { contactQueryRoutes } from './queries/contactRoutes.ts'
import { segmentQueryRoutes } from './queries/segmentRoutes.ts'
import { templateRoutes } from './commands/templates/templateRoutes.ts'
import { conversationRoutes } from './commands/conversations/conversationRoutes.ts'
import { messageRoutes } from './commands/messages/messageRoutes.ts'
import { credentialMigrations, CredentialVersionCache } from './infra/auth/credentialStore.ts'
import { oneTimeTokenMigrations } from './infra/auth/oneTimeTokens.ts'
import { apiKeyMigrations, ApiKeyStore } from './infra/auth/apiKeys.ts'
import { LogMailer, type Mailer } from './infra/mail/mailer.ts'
import { tenantRoutes } from './commands/tenants/tenantRoutes.ts'
import { systemClock, type Clock } from './infra/clock.ts'
import type { Config } from './infra/config.ts'
import { TemporarilyUnavailable } from './infra/errors.ts'
import { mergeMigrations, migrateToLatest } from './infra/database/migrations.ts'
import { openSqlDatabase, type SqlDatabase } from './infra/database/sqlDatabase.ts'
import type { EventStore } from './infra/eventStore/eventStore.ts'
import { eventStoreMigrations, PostgresEventStore } from './infra/eventStore/postgresEventStore.ts'
import { authentication } from './infra/http/authentication.ts'
import { errorHandling } from './infra/http/errorHandler.ts'
import { validatorCompiler } from './infra/http/validation.ts'
import { idempotency, idempotencyMigrations } from './infra/http/idempotency.ts'
import { MemoryRateCounter, RedisRateCounter, rateLimiting } from './infra/http/rateLimit.ts'
import { Redis } from 'ioredis'
import { checkpointMigrations } from './projections/engine/checkpoints.ts'
import { ProjectionEngine } from './projections/engine/projectionEngine.ts'
import { readModel } from './projections/engine/projection.ts'
import { contactDirectory, contactDirectoryLookups, eligibleRecipients } from './projections/contactDirectory.ts'
import { resolutionExplanations, resolveRecipients } from './projections/recipientResolution.ts'
import { campaignOutcomeCounts, messageHistory } from './projections/messageHistory.ts'
import type { CampaignOutcomes, RecipientDirectory } from './commands/campaigns/campaignPorts.ts'
import { campaignRoutes } from './commands/campaigns/campaignRoutes.ts'
import { campaignFanOut } from './commands/campaigns/campaignFanOut.ts'
import { campaignBoard } from './projections/campaignBoard.ts'
import { campaignQueryRoutes } from './queries/campaignRoutes.ts'
import { activityFeed } from './projections/activityFeed.ts'
import { activityStatistics } from './projections/activityStatistics.ts'
import { performanceOverview } from './projections/performanceOverview.ts'
import { activityRoutes } from './queries/activityRoutes.ts'
import { performanceRoutes } from './queries/performanceRoutes.ts'
import { messageListRoutes } from './queries/messageListRoutes.ts'
import { analyticsOverview } from './projections/analyticsOverview.ts'
import { billingUsage } from './projections/billingUsage.ts'
import { analyticsRoutes } from './queries/analyticsRoutes.ts'
import { billingRoutes } from './queries/billingRoutes.ts'
import { smsRoutes } from './queries/smsRoutes.ts'
import { templateCatalog } from './projections/templateCatalog.ts'
import { conversationInbox } from './projections/conversationInbox.ts'
import { templateQueryRoutes } from './queries/templateRoutes.ts'
import { conversationQueryRoutes } from './queries/conversationRoutes.ts'

/**
 * The composition root. `openServices` connects the adapters (database, event store, projector
 * engine); `appPlugin` registers external plugins, then our decorators, then the routes;
 * `buildApp` wraps both in a Fastify instance. server.ts listens; tests call buildApp and inject.
 */
export interface Services {
  config: Config
  clock: Clock
  logger: Logger
  database: SqlDatabase
  store: EventStore
  engine: ProjectionEngine
  /** read-side answers the write side asks for (ports declared in commands/) */
  recipientDirectory: RecipientDirectory
  campaignOutcomes: CampaignOutcomes
  /** Redis when REDIS_URL is set: shared rate-limit counters (and queues, later) */
  redis: Redis | null
  /** account mails (verification, password reset); the log when no transport is configured */
  mailer: Mailer
  close(): Promise<void>
}

/** Every projection and reactor the engine runs, in one place. */
export const projections = [contactDirectory, messageHistory, activityFeed, activityStatistics, performanceOverview, templateCatalog, conversationInbox, analyticsOverview, billingUsage, campaignBoard, segmentCatalog]

export const schemaMigrations = mergeMigrations(eventStoreMigrations, credentialMigrations, checkpointMigrations, idempotencyMigrations, oneTimeTokenMigrations, apiKeyMigrations)

export function createLogger(config: Config): Logger {
  return pino({ level: config.logLevel, redact: ['req.headers.authorization', '*.password', '*.refresh', '*.access'] })
}

export async function openServices(config: Config, options: { clock?: Clock; logger?: Logger; mailer?: Mailer } = {}): Promise<Services> {
  const logger = options.logger ?? createLogger(config)
  const clock = options.clock ?? systemClock
  const mailer = options.mailer ?? new LogMailer(logger.child({ component: 'mail' }))
  const database = await openSqlDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir.startsWith('memory://') ? config.dataDir : path.join(config.dataDir, 'pglite'),
    poolSize: config.databasePoolSize,
  })
  const redis = config.redisUrl ? new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 }) : null
  try {
    await redis?.connect()
    await migrateToLatest(database.db, schemaMigrations)
    const store = await PostgresEventStore.open(database)
    const engine = new ProjectionEngine({ db: database.db, store, logger: logger.child({ component: 'projections' }) })
    engine.register(...projections, campaignFanOut(store, clock))
    await engine.prepare()

    /** Waits until a read model has seen every event appended before this call (bounded). */
    const caughtUp = async (name: string): Promise<void> => {
      const reached = await engine.waitFor(name, await store.headPosition(), config.readYourWritesTimeoutMs)
      if (!reached) throw new TemporarilyUnavailable(`The ${name} read model is catching up; please retry`)
    }
    const recipientDirectory: RecipientDirectory = {
      async eligibleRecipients(tenantId, contactIds) {
        await caughtUp(contactDirectory.name)
        return eligibleRecipients(readModel(database.db, contactDirectory), tenantId, contactIds)
      },
      async resolve(tenantId, targets) {
        await caughtUp(contactDirectory.name)
        return resolveRecipients(readModel(database.db, contactDirectory), tenantId, targets)
      },
    }
    const campaignOutcomes: CampaignOutcomes = {
      async countsFor(tenantId, campaignId) {
        await caughtUp(messageHistory.name)
        return campaignOutcomeCounts(readModel(database.db, messageHistory), tenantId, campaignId)
      },
    }
    if (config.runProjections) engine.start()
    return {
      config,
      clock,
      logger,
      database,
      store,
      engine,
      recipientDirectory,
      campaignOutcomes,
      redis,
      mailer,
      async close() {
        await engine.stop()
        await store.close()
        await database.close()
        await redis?.quit().catch(() => redis.disconnect())
      },
    }
  } catch (error) {
    await database.close().catch(() => undefined)
    redis?.disconnect()
    throw error
  }
}

export const appPlugin = fp<{ services: Services }>(async (app, { services }) => {
  const { config, clock, store, database } = services
  const defaultCountry = config.defaultCountry as CountryCode

  // external plugins, then our decorators
  app.setValidatorCompiler(validatorCompiler)
  // dashboard clients send `Content-Type: application/json` on every request: an empty body with
  // it means "no body" (POST …/opt-in/), not malformed JSON
  const parseJson = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8')
    if (text.trim() === '') return done(null, undefined)
    return parseJson(request, text, done)
  })
  await app.register(errorHandling)
  // per-process caches behind every authenticated request (see their modules for the TTLs)
  const credentialVersions = new CredentialVersionCache(database.db, () => clock.now().getTime())
  const apiKeys = new ApiKeyStore(database.db, clock)
  await app.register(authentication, {
    secret: config.jwt.secret,
    accessTtlSeconds: config.jwt.accessTtlSeconds,
    refreshTtlSeconds: config.jwt.refreshTtlSeconds,
    currentCredentialVersion: (userId) => credentialVersions.current(userId),
    verifyApiKey: (key) => apiKeys.verify(key),
  })

  await app.register(rateLimiting, {
    enabled: config.rateLimitsEnabled,
    clock,
    counter: services.redis ? new RedisRateCounter(services.redis) : new MemoryRateCounter(),
  })
  await app.register(idempotency, { db: database.db, clock })

  // routes
  app.get('/health', { config: { rateLimit: false } }, async () => ({ status: 'ok' }))
  const identity = { store, db: database.db, clock, defaultTimezone: config.defaultTimezone, defaultCountry }
  await app.register(authRoutes, { ...identity, mailer: services.mailer, credentialVersions, apiKeys })
  await app.register(tenantRoutes, identity)
  await app.register(contactRoutes, { store, clock, defaultCountry, directory: contactDirectoryLookups(readModel(database.db, contactDirectory)) })
  await app.register(segmentRoutes, { store, clock, contacts: matchingContactCounter(database.db, services.engine, store, config.readYourWritesTimeoutMs) })
  await app.register(templateRoutes, { store, clock })
  await app.register(conversationRoutes, { store, clock })
  await app.register(messageRoutes, { store, clock })
  await app.register(campaignRoutes, {
    store,
    clock,
    recipients: services.recipientDirectory,
    outcomes: services.campaignOutcomes,
    pricing: config.pricing,
    explain: resolutionExplanations,
  })

  const queryOptions = { db: database.db, engine: services.engine, clock, readYourWritesTimeoutMs: config.readYourWritesTimeoutMs }
  await app.register(activityRoutes, queryOptions)
  await app.register(performanceRoutes, queryOptions)
  await app.register(messageListRoutes, queryOptions)
  await app.register(contactQueryRoutes, queryOptions)
  await app.register(segmentQueryRoutes, queryOptions)
  await app.register(campaignQueryRoutes, queryOptions)
  await app.register(templateQueryRoutes, queryOptions)
  await app.register(conversationQueryRoutes, queryOptions)
  await app.register(analyticsRoutes, queryOptions)
  await app.register(smsRoutes, { ...queryOptions, store, pricing: config.pricing })
  await app.register(billingRoutes, { ...queryOptions, store, pricing: config.pricing })
}, { name: 'mifumo' })

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: services.logger as FastifyBaseLogger,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID()
    },
    requestIdHeader: false,
    routerOptions: { ignoreTrailingSlash: true },
    bodyLimit: 20 * 1024 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>()
  await app.register(appPlugin, { services })
  return app
}
