import type { FastifyRequest } from 'fastify'
import type { Clock } from '../../infra/clock.ts'
import { AuthenticationRequired } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import type { Principal } from '../../infra/http/authentication.ts'
import type { CommandContext } from '../commandContext.ts'
import { loadUser, type ActiveUser } from './registration.ts'
import { fullName } from './userDecider.ts'

const CORRELATION_HEADER = 'x-correlation-id'

/** A command context without its tenant and actor: what a request says about itself. */
export type RequestBase = Omit<CommandContext, 'tenantId' | 'actor'>

export function requestBase(request: FastifyRequest, clock: Clock): RequestBase {
  const correlation = request.headers[CORRELATION_HEADER]
  return {
    correlationId: typeof correlation === 'string' && correlation.length <= 200 ? correlation : request.id,
    causationId: null,
    ip: request.ip ?? null,
    userAgent: request.headers['user-agent'] ?? null,
    now: clock.now(),
  }
}

/**
 * The context of a command on a user's own stream, which no tenant owns: the user acts, and the
 * events are recorded under `preferredTenant` when the user belongs to it (the token's tenant),
 * else under the user's first tenant.
 */
export function userContext(base: RequestBase, user: ActiveUser, preferredTenant?: string | null): CommandContext {
  const tenantId = (preferredTenant && user.memberships.find((m) => m.tenantId === preferredTenant)?.tenantId) ?? user.memberships[0]?.tenantId
  if (!tenantId) throw new Error(`user ${user.userId} belongs to no tenant`)
  return { ...base, tenantId, actor: { userId: user.userId, name: fullName(user) } }
}

/** The signed-in caller of a route behind `app.authenticate`. */
export function callerOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new AuthenticationRequired()
  return request.principal
}

/** The caller's user record; a credential of a user that no longer exists is no credential. */
export async function callerUser(deps: { store: EventStore }, request: FastifyRequest): Promise<ActiveUser> {
  const user = await loadUser(deps.store, callerOf(request).userId)
  if (!user) throw new AuthenticationRequired()
  return user
}
