import type { ErrorObject } from 'ajv'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import {
  AuthenticationRequired,
  BadRequest,
  BusinessRuleViolation,
  ConcurrencyConflict,
  NotFound,
  PermissionDenied,
  TemporarilyUnavailable,
  ValidationFailed,
} from '../errors.ts'
import { fieldErrors } from './validation.ts'

/**
 * Every refusal in the spec's shape:
 * - 400 `{success:false, message:"Validation failed", errors:{field:[...]}}` for bad input;
 * - `{success:false, message, error_code, details}` for business rules;
 * - 401 `{detail}`; 404 and other 4xx `{success:false, message}`;
 * - 5xx `{success:false, message, request_id}`: internals go to the log, never to the client.
 */
function send(reply: FastifyReply, status: number, body: object): FastifyReply {
  return reply.status(status).type('application/json; charset=utf-8').send(body)
}

function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ValidationFailed) {
    return send(reply, 400, { success: false, message: error.message, errors: error.errors })
  }
  if (error instanceof BusinessRuleViolation) {
    return send(reply, error.statusCode, { success: false, message: error.message, error_code: error.errorCode, details: error.details })
  }
  if (error instanceof AuthenticationRequired) return send(reply, 401, { detail: error.message })
  if (error instanceof PermissionDenied) return send(reply, 403, { detail: error.message })
  if (error instanceof NotFound) return send(reply, 404, { success: false, message: error.message })
  if (error instanceof BadRequest) return send(reply, 400, { success: false, message: error.message })
  if (error instanceof ConcurrencyConflict) {
    return send(reply, 409, { success: false, message: error.message, error_code: 'CONCURRENT_MODIFICATION', details: {} })
  }

  if (error instanceof TemporarilyUnavailable) {
    reply.header('retry-after', String(error.retryAfterSeconds))
    return send(reply, 503, { success: false, message: error.message })
  }

  const fastifyError = error as FastifyError & { validation?: ErrorObject[] }
  if (fastifyError.validation) {
    return send(reply, 400, { success: false, message: 'Validation failed', errors: fieldErrors(fastifyError.validation) })
  }
  const status = fastifyError.statusCode ?? 500
  if (status >= 400 && status < 500) {
    if (error instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return send(reply, 400, { success: false, message: 'Validation failed', errors: { non_field_errors: [`Malformed JSON body: ${error.message}`] } })
    }
    if (status === 401) return send(reply, 401, { detail: 'Authentication credentials were not provided.' })
    return send(reply, status, { success: false, message: error.message })
  }
  request.log.error({ err: error }, 'request failed')
  return send(reply, 500, { success: false, message: 'Internal server error', request_id: request.id })
}

export const errorHandling = fp(
  async (app: FastifyInstance) => {
    app.setErrorHandler(handleError)
    app.setNotFoundHandler((request, reply) => send(reply, 404, { success: false, message: `No route for ${request.method} ${request.url.split('?')[0]}` }))
  },
  { name: 'error-handling' },
)
