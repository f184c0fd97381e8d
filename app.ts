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
import { adminStreamRoutes } from './queries/adminStreamRoutes.ts'
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
import { KurrentEventStore } from './infra/eventStore/kurrentEventStore.ts'
import { UpcastingEventStore } from './infra/eventStore/upcasting.ts'
import { eventVersions } from './commands/eventVersions.ts'
import { authentication } from './infra/http/authentication.ts'
import { errorHandling } from './infra/http/errorHandler.ts'
import { validatorCompiler } from './infra/http/validation.ts'
import { idempotency, idempotencyMigrations } from './infra/http/idempotency.ts'
import { MemoryRateCounter, RedisRateCounter, rateLimiting } from './infra/http/rateLimit.ts'
import { Redis } from 'ioredis'
import { sendQueueName, type SendJob } from './commands/messages/sendJobs.ts'
import { messageDispatcher, requeueQueuedMessages } from './commands/messages/messageDispatcher.ts'
import { sendProcessor } from './commands/messages/messageSending.ts'
import {
  campaignCompletion,
  campaignScheduler,
  campaignSendGate,
  CampaignStates,
  campaignStartQueueName,
  campaignTimeoutProcessor,
  campaignTimeoutQueueName,
  scheduledStartProcessor,
  startJobOf,
  timeoutJobOf,
  type CampaignJobQueues,
  type CampaignStartJob,
  type CampaignTimeoutJob,
} from './commands/campaigns/campaignDelivery.ts'
import { providerRateLimit } from './infra/sms/openSmsProvider.ts'
import { openQueueSystem } from './infra/queue/openQueueSystem.ts'
import type { CloseWorkerOptions, QueueSystem, QueueWorker } from './infra/queue/jobQueue.ts'
import { openSmsProvider, type OpenedSmsProvider } from './infra/sms/openSmsProvider.ts'
import type { DeliveryReport, SmsProvider } from './infra/sms/smsProvider.ts'
import { checkpointMigrations, replayMigrations } from './projections/engine/checkpoints.ts'
import { cancelReplay, replayProcessor, replayQueueName, requestReplay, type ReplayJob } from './projections/engine/replayJobs.ts'
import { adminProjectionRoutes } from './queries/adminProjectionRoutes.ts'
import { ProjectionEngine } from './projections/engine/projectionEngine.ts'
import { readModel } from './projections/engine/projection.ts'
import { contactDirectory, contactDirectoryLookups, eligibleRecipients } from './projections/contactDirectory.ts'
import { resolutionExplanations, resolveRecipients } from './projections/recipientResolution.ts'
import { campaignOutcomeCounts, messageHistory, queuedMessages } from './projections/messageHistory.ts'
import type { CampaignOutcomes, RecipientDirectory } from './commands/campaigns/campaignPorts.ts'
import { campaignRoutes } from './commands/campaigns/campaignRoutes.ts'
import { campaignFanOut } from './commands/campaigns/campaignFanOut.ts'
import { campaignBoard, campaignsInStatus } from './projections/campaignBoard.ts'
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
import { webhookSecretMigrations, WebhookSecretStore } from './infra/webhooks/webhookSecrets.ts'
import { webhookSecretRoutes } from './commands/tenants/webhookSecretRoutes.ts'
import { deliveryReportsThroughRoute, smsWebhookRoutes } from './commands/sms/smsWebhookRoutes.ts'
import { coalescedStreamReads } from './commands/messages/coalescedStreamReads.ts'
import { smsSendRoutes } from './commands/sms/smsSendRoutes.ts'
import { openConversationFinder } from './queries/openConversationFinder.ts'
import { httpMetrics, ServiceMetrics } from './infra/ops/metrics.ts'
import { apiDocs } from './infra/http/apiDocs.ts'
import { childLoggerFactory, REDACTED_PATHS, requestSerializer } from './infra/http/requestLogging.ts'
import { activityStreamRoutes } from './queries/activityStreamRoutes.ts'
import { operationsRoutes } from './queries/operationsRoutes.ts'
import { announceCommits } from './projections/engine/commitNotifications.ts'
import { watchedReadModelCache } from './queries/readModelCache.ts'

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
  /** Redis when REDIS_URL is set: shared rate-limit counters */
  redis: Redis | null
  /** the job queues: BullMQ when REDIS_URL is set, in-process otherwise */
  queues: QueueSystem
  /** how messages leave the platform (the simulator or the HTTP gateway) */
  provider: SmsProvider
  /**
   * Where the simulator's delivery reports go; the provider calls through this field, so the app
   * can set it once it is built (the delivery-report route). Until then it rejects.
   */
  deliveryReportSink: (tenantId: string, report: DeliveryReport | readonly DeliveryReport[]) => Promise<void>
  /** account mails (verification, password reset); the log when no transport is configured */
  mailer: Mailer
  /** Prometheus metrics of this process (GET /metrics); `store` counts its appends into it */
  metrics: ServiceMetrics
  close(): Promise<void>
}

/** Every projection and reactor the engine runs, in one place. */
export { sendQueueName, sendJobId, type SendJob } from './commands/messages/sendJobs.ts'

export const projections = [contactDirectory, messageHistory, activityFeed, activityStatistics, performanceOverview, templateCatalog, conversationInbox, analyticsOverview, billingUsage, campaignBoard, segmentCatalog]

export const schemaMigrations = mergeMigrations(eventStoreMigrations, credentialMigrations, checkpointMigrations, idempotencyMigrations, oneTimeTokenMigrations, apiKeyMigrations, webhookSecretMigrations, replayMigrations)

export function createLogger(config: Config): Logger {
  // every request's lines carry reqId and correlationId; credentials never (infra/http/requestLogging.ts)
  return pino({ level: config.logLevel, redact: REDACTED_PATHS, serializers: { req: requestSerializer } })
}

/** A process's delivery workers (send, scheduled start, campaign completion), closed together. */
export interface DeliveryWorkers {
  /** stops taking jobs; active jobs finish, unless `force` (a crash: they are taken back elsewhere) */
  close(options?: CloseWorkerOptions): Promise<void>
}

/** services.deliveryReportSink until the app sets it: refuses, so the simulator retries the report */
export const unwiredDeliveryReportSink = async (_tenantId: string, _report: DeliveryReport | readonly DeliveryReport[]): Promise<void> => {
  throw new Error('delivery reports are not wired yet: the app sets services.deliveryReportSink when it is built')
}

/** the delivery workers each Services runs, closed first by services.close() */
const deliveryWorkers = new WeakMap<Services, Set<DeliveryWorkers>>()

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
  let queues: QueueSystem | null = null
  let provider: OpenedSmsProvider | null = null
  let eventStore: EventStore | null = null
  let startedEngine: ProjectionEngine | null = null
  try {
    await redis?.connect()
    const queueLog = logger.child({ component: 'queues' })
    queues = await openQueueSystem({
      redisUrl: config.redisUrl,
      prefix: config.queue.prefix,
      lockDurationMs: config.queue.lockDurationMs,
      stalledIntervalMs: config.queue.stalledIntervalMs,
      onError: (error, context) => queueLog.error({ err: error, ...context }, 'job queue error'),
    })
    await migrateToLatest(database.db, schemaMigrations)
    // EVENTSTORE_URL: the events live in KurrentDB; read models, checkpoints and credentials stay in PostgreSQL
    eventStore = config.eventStoreUrl ? await KurrentEventStore.open(config.eventStoreUrl) : await PostgresEventStore.open(database)
    // events come out of every read in their current schema version (commands/eventVersions.ts)
    const metrics = new ServiceMetrics()
    const store = metrics.instrument(new UpcastingEventStore(eventStore, eventVersions))
    const engine = new ProjectionEngine({ db: database.db, store, logger: logger.child({ component: 'projections' }), singleConnection: database.engine === 'pglite' })

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
      async countsAsOf(tenantId, campaignId, position) {
        if (!(await engine.waitFor(messageHistory.name, position, config.readYourWritesTimeoutMs))) throw new TemporarilyUnavailable(`The ${messageHistory.name} read model is catching up; please retry`)
        return campaignOutcomeCounts(readModel(database.db, messageHistory), tenantId, campaignId)
      },
    }
    const retries = { attempts: config.delivery.attempts, backoffMs: config.delivery.backoffMs }
    const deliveryLog = logger.child({ component: 'delivery' })
    engine.register(
      ...projections,
      campaignFanOut(store, clock),
      // the delivery pipeline's reactors run wherever the projections run; the jobs they add are
      // taken by the delivery workers of any process on the same queues
      messageDispatcher({ queue: queues.queue<SendJob>(sendQueueName), ...retries }),
      campaignScheduler({ store, queues: campaignJobQueues(queues), clock, retries, timeoutSeconds: config.delivery.campaignTimeoutSeconds }),
      campaignCompletion({
        store,
        clock,
        deps: { store, recipients: recipientDirectory, outcomes: campaignOutcomes, pricing: config.pricing },
        timeoutSeconds: config.delivery.campaignTimeoutSeconds,
        log: deliveryLog,
      }),
    )
    await engine.prepare()
    // processes that serve HTTP without running the projections hear of their commits (live activity)
    const stopAnnouncingCommits = announceCommits(engine, database)

    const opened: OpenedSmsProvider = openSmsProvider(config, {
      reportSink: (tenantId, report) => services.deliveryReportSink(tenantId, report),
      // the reports that fall due together go to the delivery-report route in one call
      reportBatchSink: (tenantId, reports) => services.deliveryReportSink(tenantId, reports),
      clock,
      logger: logger.child({ component: 'sms' }),
    })
    provider = opened
    const openedQueues: QueueSystem = queues
    let closing: Promise<void> | undefined
    const services: Services = {
      config,
      clock,
      logger,
      database,
      store,
      engine,
      recipientDirectory,
      campaignOutcomes,
      redis,
      queues: openedQueues,
      provider: opened,
      mailer,
      metrics,
      deliveryReportSink: unwiredDeliveryReportSink,
      close() {
        // once, however often it is called: workers first (their active jobs finish), then the
        // engine, the provider, the queues, the database
        closing ??= (async () => {
          await Promise.allSettled([...(deliveryWorkers.get(services) ?? [])].map((workers) => workers.close()))
          await engine.stop()
          stopAnnouncingCommits()
          await opened.close().catch((error: unknown) => logger.error({ err: error }, 'closing the SMS provider failed'))
          await openedQueues.close().catch((error: unknown) => logger.error({ err: error }, 'closing the job queues failed'))
          await store.close()
          await database.close()
          await redis?.quit().catch(() => redis.disconnect())
        })()
        return closing
      },
    }
    if (config.runProjections) {
      engine.start()
      startedEngine = engine
    }
    if (config.delivery.runWorkers) await startDeliveryWorkers(services)
    return services
  } catch (error) {
    await startedEngine?.stop().catch(() => undefined)
    await eventStore?.close().catch(() => undefined)
    await provider?.close().catch(() => undefined)
    await queues?.close().catch(() => undefined)
    await database.close().catch(() => undefined)
    redis?.disconnect()
    throw error
  }
}

/** the API's version in its OpenAPI document (package.json's) */
const API_VERSION = '0.1.0'

export const appPlugin = fp<{ services: Services }>(async (app, { services }) => {
  const { config, clock, store, database } = services
  const defaultCountry = config.defaultCountry as CountryCode

  // external plugins, then our decorators; the API document first: it collects the routes as they register
  await app.register(apiDocs, { version: API_VERSION })
  await app.register(httpMetrics, { metrics: services.metrics })
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
    knownCredentialVersion: (userId) => credentialVersions.known(userId),
    verifyApiKey: (key) => apiKeys.verify(key),
  })

  await app.register(rateLimiting, {
    enabled: config.rateLimitsEnabled,
    clock,
    counter: services.redis ? new RedisRateCounter(services.redis) : new MemoryRateCounter(),
  })
  await app.register(idempotency, { db: database.db, clock })

  // routes
  // /health, /ready, /metrics: no token, no rate limit
  await app.register(operationsRoutes, {
    db: database.db,
    store,
    engine: services.engine,
    redis: services.redis,
    queues: services.queues,
    queueNames: [sendQueueName, campaignStartQueueName, campaignTimeoutQueueName],
    metrics: services.metrics,
    projectionsRunHere: config.runProjections,
    metricsToken: config.metricsToken,
  })
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
  // dashboard answers stay in memory until their projection commits a change for the tenant
  const answers = await watchedReadModelCache(app, services.engine, database)
  await app.register(activityRoutes, { ...queryOptions, answers })
  await app.register(activityStreamRoutes, { db: database.db, engine: services.engine, database, clock, heartbeatMs: config.activityStreamHeartbeatMs, metrics: services.metrics })
  await app.register(performanceRoutes, { ...queryOptions, answers })
  await app.register(messageListRoutes, queryOptions)
  await app.register(contactQueryRoutes, queryOptions)
  await app.register(segmentQueryRoutes, queryOptions)
  await app.register(campaignQueryRoutes, queryOptions)
  await app.register(templateQueryRoutes, queryOptions)
  await app.register(conversationQueryRoutes, queryOptions)
  await app.register(analyticsRoutes, queryOptions)
  await app.register(smsRoutes, { ...queryOptions, store, pricing: config.pricing })
  await app.register(billingRoutes, { ...queryOptions, store, pricing: config.pricing })
  await app.register(adminStreamRoutes, { store })
  await app.register(adminProjectionRoutes, {
    db: database.db,
    store,
    clock,
    projections,
    requestReplay: (name, requestedBy) => requestReplay(services.queues, services.engine, name, requestedBy),
    cancelReplay: (name) => cancelReplay(database.db, services.engine, services.engine.projection(name)!),
  })

  // SMS sending, delivery status, and the providers' signed webhooks (delivery reports, inbound SMS)
  const webhookSecrets = new WebhookSecretStore(database.db, clock)
  await app.register(webhookSecretRoutes, { store, clock, secrets: webhookSecrets })
  await app.register(smsSendRoutes, { store, clock, provider: services.provider, pricing: config.pricing })
  const conversations = openConversationFinder({ db: database.db, engine: services.engine, store, timeoutMs: config.readYourWritesTimeoutMs })
  // delivery reports load their message: those loads go out together (one round trip for many)
  await app.register(smsWebhookRoutes, { store: coalescedStreamReads(store), clock, secrets: webhookSecrets, conversations })
  // the simulator's reports come in through the delivery-report route, signed like a provider's
  services.deliveryReportSink = deliveryReportsThroughRoute(app, webhookSecrets, clock)
}, { name: 'mifumo' })

export async function buildApp(services: Services): Promise<FastifyInstance> {
  const app = Fastify({
    // whatever logger the services got: request URLs masked, credentials redacted (infra/http/requestLogging.ts)
    loggerInstance: services.logger.child({}, { serializers: { req: requestSerializer }, redact: REDACTED_PATHS }) as FastifyBaseLogger,
    genReqId: (request) => {
      const given = request.headers['x-request-id']
      return typeof given === 'string' && /^[\w.:-]{1,100}$/.test(given) ? given : randomUUID()
    },
    requestIdHeader: false,
    // reqId and correlationId on every line a request logs
    childLoggerFactory,
    routerOptions: { ignoreTrailingSlash: true },
    bodyLimit: 20 * 1024 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>()
  await app.register(appPlugin, { services })
  return app
}

const campaignJobQueues = (queues: QueueSystem): CampaignJobQueues => ({
  start: queues.queue<CampaignStartJob>(campaignStartQueueName),
  timeout: queues.queue<CampaignTimeoutJob>(campaignTimeoutQueueName),
})

/** the scheduled-start and timeout workers: few jobs, each a command */
const CAMPAIGN_JOB_CONCURRENCY = 4

/**
 * Starts this process's delivery workers on the services' queues: the send processor (at most
 * DELIVERY `concurrency` sends at a time here, at most the provider's rate across every worker of
 * the queue), the scheduled starts and the campaign timeouts. Then, in the background, re-arms
 * what a restart may have lost from an in-process queue (on Redis these adds are no-ops): a send
 * job for every message still queued, a start job for every scheduled campaign, a timeout job for
 * every running or paused one. openServices calls it when DELIVERY_WORKERS is true; the `worker`
 * command calls it itself. close() stops taking jobs and lets the active ones finish (`force`:
 * abandons them, as a crash would); services.close() closes the workers it started first.
 */
export async function startDeliveryWorkers(services: Services): Promise<DeliveryWorkers> {
  const { config, store, clock, queues } = services
  const log = services.logger.child({ component: 'delivery' })
  const retries = { attempts: config.delivery.attempts, backoffMs: config.delivery.backoffMs }
  const campaignJobs = {
    store,
    clock,
    deps: { store, recipients: services.recipientDirectory, outcomes: services.campaignOutcomes, pricing: config.pricing },
    timeoutSeconds: config.delivery.campaignTimeoutSeconds,
    log,
  }
  const workers: QueueWorker[] = [
    queues.work<SendJob>(
      sendQueueName,
      sendProcessor({
        store,
        provider: services.provider,
        clock,
        senderId: config.provider.defaultSenderId,
        campaignGate: campaignSendGate(new CampaignStates(store), clock),
        log,
      }),
      { concurrency: config.delivery.concurrency, rateLimit: providerRateLimit(config) },
    ),
    queues.work<CampaignStartJob>(campaignStartQueueName, scheduledStartProcessor(campaignJobs), { concurrency: CAMPAIGN_JOB_CONCURRENCY }),
    queues.work<CampaignTimeoutJob>(campaignTimeoutQueueName, campaignTimeoutProcessor(campaignJobs), { concurrency: CAMPAIGN_JOB_CONCURRENCY }),
    // projection replays requested as jobs (with Redis): one at a time per process
    queues.work<ReplayJob>(replayQueueName, replayProcessor(services.engine), { concurrency: 1 }),
  ]

  let stopped = false
  const recovery = rearmDeliveryJobs(services, retries, () => stopped).catch((error: unknown) => {
    if (!stopped) log.error({ err: error }, 're-arming the delivery jobs at start-up failed')
  })

  let closing: Promise<void> | undefined
  const handle: DeliveryWorkers = {
    close(options) {
      closing ??= (async () => {
        stopped = true
        await Promise.allSettled(workers.map((worker) => worker.close(options)))
        await recovery
        deliveryWorkers.get(services)?.delete(handle)
      })()
      return closing
    },
  }
  let running = deliveryWorkers.get(services)
  if (!running) deliveryWorkers.set(services, (running = new Set()))
  running.add(handle)
  return handle
}

/**
 * What a restart may have lost, re-added from the read models once they have caught up with the
 * log as it was at start (the reactors add whatever comes after): job ids make every add that is
 * still pending a no-op, and each processor checks the current state before it acts.
 */
async function rearmDeliveryJobs(services: Services, retries: { attempts: number; backoffMs: number }, stopped: () => boolean): Promise<void> {
  const { engine, store, database, config, clock, queues } = services
  const head = await store.headPosition()
  for (const name of [messageHistory.name, campaignBoard.name]) {
    // short waits, so that closing the workers never waits long for this
    while (!(await engine.waitFor(name, head, 1000))) {
      if (stopped()) return
    }
  }
  if (stopped()) return
  const log = services.logger.child({ component: 'delivery' })
  const requeued = await requeueQueuedMessages({
    queue: queues.queue<SendJob>(sendQueueName),
    ...retries,
    pages: (after, limit) => queuedMessages(readModel(database.db, messageHistory), after, limit),
    stopped,
  })
  const campaignQueues = campaignJobQueues(queues)
  const board = readModel(database.db, campaignBoard)
  let rearmed = 0
  let after: string | null = null
  while (!stopped()) {
    const page = await campaignsInStatus(board, ['scheduled', 'running', 'paused'], after, 500)
    if (page.length === 0) break
    const now = clock.now().getTime()
    const starts = page.flatMap((c) => (c.status === 'scheduled' && c.scheduledAt ? [startJobOf(retries, { ...c, scheduledAt: c.scheduledAt }, now)] : []))
    const timeouts = page.flatMap((c) => (c.status !== 'scheduled' && c.startedAt ? [timeoutJobOf(retries, { ...c, startedAt: c.startedAt }, config.delivery.campaignTimeoutSeconds, now)] : []))
    if (starts.length > 0) await campaignQueues.start.add(starts)
    if (timeouts.length > 0) await campaignQueues.timeout.add(timeouts)
    rearmed += page.length
    after = page.at(-1)!.campaignId
  }
  if (requeued + rearmed > 0) log.info({ queuedMessages: requeued, campaigns: rearmed }, 'delivery jobs re-armed at start-up')
}
