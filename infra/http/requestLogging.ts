import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'pino'

/**
 * What the request logs carry, and what they never do.
 *
 * Every line a request logs has `reqId` (X-Request-Id, or a new uuid) and `correlationId`: the id
 * the request's events carry in their metadata (the X-Correlation-Id header when given, the
 * request id otherwise; commands/httpCommand.ts picks the same), so a log line and the events it
 * caused can be matched. Secrets stay out: the Authorization and X-API-Key headers are redacted,
 * and tokens in a query string (`?access_token=` of the activity stream) are masked in the URL.
 */
const CORRELATION_HEADER = 'x-correlation-id'

export function correlationIdOf(request: Pick<IncomingMessage, 'headers'>, requestId: string): string {
  const given = request.headers[CORRELATION_HEADER]
  return typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : requestId
}

/** Query parameters whose values are masked in logged URLs. */
const SECRET_PARAMETERS = /([?&](?:access_token|token|refresh|api_key|apikey|key|password|secret)=)[^&#]*/gi

export function maskUrl(url: string): string {
  return url.replace(SECRET_PARAMETERS, '$1[REDACTED]')
}

/** pino's `req` serializer: Fastify's fields, with the URL masked. */
export function requestSerializer(request: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }): Record<string, unknown> {
  return {
    method: request.method,
    url: request.url === undefined ? undefined : maskUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}

/** pino redaction paths: headers that carry credentials, and credential fields of logged bodies. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.password',
  '*.refresh',
  '*.access',
  '*.access_token',
  '*.token',
]

type LogMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/** What the request logger needs of its parent: a pino logger (its level check). */
interface LevelCheckingLogger extends FastifyBaseLogger {
  isLevelEnabled(level: string): boolean
}

/**
 * A request's logger whose pino child is made only when the request writes its first line (or
 * asks for a child, or sets its level). pino serializes (and redacts) a child's bindings when the
 * child is made: at level warn most requests never write a line, and making the child was most
 * of what logging cost a request. The child, once made, is the one Fastify's factory always made:
 * the same bindings (reqId, correlationId) and options, so the lines are byte for byte the same.
 */
class RequestLogger implements FastifyBaseLogger {
  readonly #parent: LevelCheckingLogger
  readonly #bindings: Bindings
  readonly #options: ChildLoggerOptions
  readonly #rawRequest: Pick<IncomingMessage, 'headers'>
  #child: FastifyBaseLogger | null = null

  constructor(parent: LevelCheckingLogger, bindings: Bindings, options: ChildLoggerOptions, rawRequest: Pick<IncomingMessage, 'headers'>) {
    this.#parent = parent
    this.#bindings = bindings
    this.#options = options
    this.#rawRequest = rawRequest
  }

  get level(): string {
    return this.#child ? this.#child.level : this.#parent.level
  }

  set level(level: string) {
    this.#made().level = level
  }

  fatal(...args: unknown[]): void {
    this.#write('fatal', args)
  }

  error(...args: unknown[]): void {
    this.#write('error', args)
  }

  warn(...args: unknown[]): void {
    this.#write('warn', args)
  }

  info(...args: unknown[]): void {
    this.#write('info', args)
  }

  debug(...args: unknown[]): void {
    this.#write('debug', args)
  }

  trace(...args: unknown[]): void {
    this.#write('trace', args)
  }

  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.#made().child(bindings, options)
  }

  #write(method: LogMethod, args: unknown[]): void {
    // the child's level is the parent's until someone sets it (which makes the child)
    if (this.#child === null && !this.#parent.isLevelEnabled(method)) return
    const child = this.#made()
    ;(child[method] as (...line: unknown[]) => void).apply(child, args)
  }

  #made(): FastifyBaseLogger {
    if (this.#child === null) this.#child = requestChild(this.#parent, this.#bindings, this.#options, this.#rawRequest)
    return this.#child
  }
}

function requestChild(logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions, rawRequest: Pick<IncomingMessage, 'headers'>): FastifyBaseLogger {
  const requestId = typeof bindings.reqId === 'string' ? bindings.reqId : String(bindings.reqId ?? '')
  return logger.child({ ...bindings, correlationId: correlationIdOf(rawRequest, requestId) }, options)
}

function hasOptions(options: ChildLoggerOptions): boolean {
  for (const _ in options) return true
  return false
}

/**
 * Fastify's child logger of a request, with the correlation id beside the request id; made when
 * the request first writes a line. A route with its own log level or serializers, or a parent that
 * is not pino, gets its child at once.
 */
export const childLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options, rawRequest) {
  const parent = logger as LevelCheckingLogger
  if (hasOptions(options) || typeof parent.isLevelEnabled !== 'function') return requestChild(parent, bindings, options, rawRequest)
  return new RequestLogger(parent, bindings, options, rawRequest)
}
