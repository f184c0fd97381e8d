import type { IncomingMessage } from 'node:http'
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'

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

/** Fastify's child logger of a request, with the correlation id beside the request id. */
export const childLoggerFactory: NonNullable<FastifyServerOptions['childLoggerFactory']> = function (logger, bindings, options, rawRequest) {
  const requestId = typeof bindings.reqId === 'string' ? bindings.reqId : String(bindings.reqId ?? '')
  return (logger as FastifyBaseLogger).child({ ...bindings, correlationId: correlationIdOf(rawRequest, requestId) }, options)
}
