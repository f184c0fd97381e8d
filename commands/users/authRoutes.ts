import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { AuthenticationRequired } from '../../infra/errors.ts'
import { POSITION_HEADER } from '../httpCommand.ts'
import { authenticateUser, loadUser, principalFor, registerUser, type ActiveUser, type IdentityDependencies } from './registration.ts'
import { fullName } from './userDecider.ts'

export interface AuthRoutesOptions extends IdentityDependencies {
  clock: Clock
}

const RegisterBody = Type.Object({
  email: Type.String({ format: 'email', maxLength: 254 }),
  password: Type.String({ minLength: 8, maxLength: 128 }),
  first_name: Type.String({ minLength: 1, maxLength: 100 }),
  last_name: Type.Optional(Type.String({ maxLength: 100 })),
  tenant_name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  timezone: Type.Optional(Type.String({ maxLength: 64 })),
})

const LoginBody = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 254 }),
  password: Type.String({ minLength: 1, maxLength: 128 }),
})

const RefreshBody = Type.Object({ refresh: Type.String({ minLength: 1 }) })

function userView(user: ActiveUser, tenantId: string | null) {
  const membership = user.memberships.find((m) => m.tenantId === tenantId)
  return {
    id: user.userId,
    email: user.email,
    first_name: user.firstName,
    last_name: user.lastName,
    full_name: fullName(user),
    tenant_id: membership?.tenantId ?? null,
    tenant_name: membership?.tenantName ?? null,
    role: membership?.role ?? null,
    date_joined: user.createdAt,
  }
}

export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, deps) => {
  app.post('/api/auth/register/', { schema: { body: RegisterBody } }, async (request, reply) => {
    const { body } = request
    const { user, position } = await registerUser(
      deps,
      {
        email: body.email,
        password: body.password,
        firstName: body.first_name,
        lastName: body.last_name ?? '',
        tenantName: body.tenant_name,
        timezone: body.timezone,
      },
      {
        actor: { userId: null, name: body.email },
        correlationId: request.id,
        causationId: null,
        ip: request.ip ?? null,
        userAgent: request.headers['user-agent'] ?? null,
        now: deps.clock.now(),
      },
    )
    const principal = principalFor(user)
    return reply
      .status(201)
      .header(POSITION_HEADER, String(position))
      .send({ success: true, data: { ...app.issueTokens(principal), user: userView(user, principal.tenantId) }, position })
  })

  app.post('/api/auth/login/', { schema: { body: LoginBody } }, async (request) => {
    const user = await authenticateUser(deps, request.body.email, request.body.password)
    const principal = principalFor(user)
    return { success: true, data: { ...app.issueTokens(principal), user: userView(user, principal.tenantId) } }
  })

  app.post('/api/auth/token/refresh/', { schema: { body: RefreshBody } }, async (request) => {
    const claims = app.verifyRefreshToken(request.body.refresh)
    const user = await loadUser(deps.store, claims.sub)
    if (!user) throw new AuthenticationRequired('Token is invalid or expired')
    // the membership is checked again: a user removed from the tenant gets no new access to it
    const principal = principalFor(user, claims.tid)
    if (claims.tid && principal.tenantId !== claims.tid) throw new AuthenticationRequired('Token is invalid or expired')
    return { success: true, data: app.issueTokens(principal) }
  })
}
