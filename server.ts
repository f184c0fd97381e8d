import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { buildApp, createLogger, openServices, type Services } from './app.ts'
import type { Clock } from './infra/clock.ts'
import { ConfigError, loadConfig, type Config } from './infra/config.ts'
import { isEntryPoint } from './infra/entryPoint.ts'

/**
 * The HTTP server: opens the services, builds the app, listens, and shuts down gracefully.
 * `npm start` runs this file; `mifumo serve` calls `serve()`; tests call `startServer()`.
 */

/** Node's HTTP server limits, in milliseconds. */
export const serverTimeouts = {
  /** the whole request (headers and body) must arrive within this: slow-upload protection */
  requestTimeout: 60_000,
  /** the headers must arrive within this (at most requestTimeout) */
  headersTimeout: 15_000,
  /** an idle keep-alive connection stays open this long: above the usual 60 s of load balancers */
  keepAliveTimeout: 72_000,
  /** a socket with no traffic at all for this long is closed (covers the longest handler, a 10,000-row import) */
  connectionTimeout: 120_000,
} as const

/** How long a graceful shutdown may take before the process exits anyway. */
export const SHUTDOWN_GRACE_MS = 10_000

export interface StartServerOptions {
  logger?: Logger
  clock?: Clock
}

export interface RunningServer {
  app: FastifyInstance
  services: Services
  /** where it listens, e.g. http://127.0.0.1:3000 */
  address: string
  /**
   * Stop accepting connections, let in-flight requests finish, then close the services (projector
   * engine, event store, database). Safe to call more than once.
   */
  stop(): Promise<void>
}

export async function startServer(config: Config, options: StartServerOptions = {}): Promise<RunningServer> {
  const logger = options.logger ?? createLogger(config)
  if (config.jwt.secretIsEphemeral) {
    logger.warn('JWT_SECRET is not set: tokens are signed with a random secret and stop working when this process exits; set JWT_SECRET (32+ characters) to keep sessions across restarts')
  }
  if (!config.databaseUrl) logger.info({ dataDir: config.dataDir }, 'DATABASE_URL is not set: using the embedded database')

  const services = await openServices(config, { logger, ...(options.clock ? { clock: options.clock } : {}) })
  let servicesClosed: Promise<void> | undefined
  const closeServices = (): Promise<void> => (servicesClosed ??= services.close())

  let app: FastifyInstance
  try {
    app = await buildApp(services)
    // onClose runs once the server has stopped listening and every in-flight request has ended,
    // so the database outlives the last request that needs it
    app.addHook('onClose', async () => {
      await closeServices()
    })
    // during shutdown, answers to requests still in flight close their connection: a client's
    // idle keep-alive socket would otherwise hold the server open until the client drops it
    let draining = false
    app.addHook('preClose', async () => {
      draining = true
    })
    // a callback hook, not an async one: a promise per answer for a flag that is false until shutdown
    app.addHook('onSend', (_request, reply, payload, done) => {
      if (draining) reply.header('connection', 'close')
      done(null, payload)
    })
    app.server.requestTimeout = serverTimeouts.requestTimeout
    app.server.headersTimeout = serverTimeouts.headersTimeout
    app.server.keepAliveTimeout = serverTimeouts.keepAliveTimeout
    app.server.setTimeout(serverTimeouts.connectionTimeout)
  } catch (error) {
    await closeServices()
    throw error
  }

  let address: string
  try {
    address = await app.listen({ host: config.host, port: config.port })
  } catch (error) {
    await app.close().catch(() => undefined)
    await closeServices()
    throw error
  }

  let stopped: Promise<void> | undefined
  return {
    app,
    services,
    address,
    stop() {
      stopped ??= (async () => {
        await app.close()
        await closeServices()
      })()
      return stopped
    },
  }
}

/**
 * Exit cleanly on SIGTERM and SIGINT: stop, then exit 0. A second signal, or a shutdown that
 * takes longer than SHUTDOWN_GRACE_MS, exits 1 at once. Returns a function that removes the handlers.
 */
export function exitOnSignals(
  server: Pick<RunningServer, 'stop'>,
  logger: Logger,
  options: {
    graceMs?: number
    exit?: (code: number) => void
    /** where signals come from: the process, or an emitter in tests */
    signals?: Pick<NodeJS.EventEmitter, 'on' | 'off'>
  } = {},
): () => void {
  const graceMs = options.graceMs ?? SHUTDOWN_GRACE_MS
  const exit = options.exit ?? ((code: number) => process.exit(code))
  const signals = options.signals ?? process
  let shuttingDown = false
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal during shutdown: exiting now')
      exit(1)
      return
    }
    shuttingDown = true
    logger.info({ signal }, 'shutting down: finishing in-flight requests')
    const timer = setTimeout(() => {
      logger.error(`shutdown did not finish within ${graceMs / 1000} s: exiting now`)
      exit(1)
    }, graceMs)
    timer.unref()
    server.stop().then(
      () => {
        clearTimeout(timer)
        logger.info('stopped')
        exit(0)
      },
      (error: unknown) => {
        clearTimeout(timer)
        logger.error({ err: error }, 'shutdown failed')
        exit(1)
      },
    )
  }
  signals.on('SIGTERM', onSignal)
  signals.on('SIGINT', onSignal)
  return () => {
    signals.off('SIGTERM', onSignal)
    signals.off('SIGINT', onSignal)
  }
}

/**
 * The process entry: configuration from the environment, start, run until a signal. A bad
 * configuration prints what is wrong and exits 1; so does a failure to start.
 */
export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<RunningServer> {
  let config: Config
  try {
    config = loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`mifumo: configuration error: ${error.message}\n`)
      process.exit(1)
    }
    throw error
  }
  const logger = createLogger(config)
  let server: RunningServer
  try {
    server = await startServer(config, { logger })
  } catch (error) {
    logger.fatal({ err: error }, 'the server could not start')
    process.exit(1)
  }
  exitOnSignals(server, logger)
  return server
}

if (isEntryPoint(import.meta.url)) await serve()
