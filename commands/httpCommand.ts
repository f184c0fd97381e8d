import type { FastifyReply, FastifyRequest } from 'fastify'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import type { Clock } from '../infra/clock.ts'
import type { CommandContext } from './commandContext.ts'

const CORRELATION_HEADER = 'x-correlation-id'

/** The command context of an authenticated, tenant-scoped HTTP request. */
export function commandContextOf(request: FastifyRequest, clock: Clock): CommandContext {
  const principal = tenantPrincipal(request)
  const correlation = request.headers[CORRELATION_HEADER]
  return {
    tenantId: principal.tenantId,
    actor: { userId: principal.userId, name: principal.name },
    correlationId: typeof correlation === 'string' && correlation.length <= 200 ? correlation : request.id,
    causationId: null,
    ip: request.ip ?? null,
    userAgent: request.headers['user-agent'] ?? null,
    now: clock.now(),
  }
}

/** The global position a reader must reach to see this command's effects, as a header too. */
export const POSITION_HEADER = 'x-event-position'

/**
 * Sends a command's answer: the spec's envelope plus `position`, the global position of the
 * command's last event (or of the aggregate's last event when the command changed nothing).
 */
export function replyWithPosition<Body extends object>(reply: FastifyReply, status: number, position: number, body: Body): FastifyReply {
  return reply.status(status).header(POSITION_HEADER, String(position)).send({ ...body, position })
}
