import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { ApiKeyStore } from '../../infra/auth/apiKeys.ts'
import { credentialStatusOf, type CredentialVersionCache } from '../../infra/auth/credentialStore.ts'
import type { Clock } from '../../infra/clock.ts'
import { AuthenticationRequired, ValidationFailed } from '../../infra/errors.ts'
import { sendInBackground, type Mailer } from '../../infra/mail/mailer.ts'
import { POSITION_HEADER, replyWithPosition } from '../httpCommand.ts'
import { apiKeyRoutes } from './apiKeyRoutes.ts'
import { passwordRoutes } from './passwordRoutes.ts'
import { authenticateUser, loadUser, principalFor, registerUser, type IdentityDependencies } from './registration.ts'
import { callerOf, callerUser, requestBase, userContext } from './requestContext.ts'
import { resendVerification, updateProfile, verifyEmail, type AccountDeps } from './userCommands.ts'
import { profileView, viewTenantOf } from './userView.ts'

export interface AuthRoutesOptions extends IdentityDependencies {
  clock: Clock
  /** where account mails (verification, password reset) go */
  mailer: Mailer
  /** told of password changes, so older access tokens are refused at once in this process */
  credentialVersions: CredentialVersionCache
  apiKeys: ApiKeyStore
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

const ProfileBody = Type.Object({
  first_name: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  last_name: Type.Optional(Type.String({ maxLength: 100 })),
  /** accepted only unchanged: changing the email is not offered */
  email: Type.Optional(Type.String({ maxLength: 254 })),
})

const TokenBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) })

const INVALID_REFRESH = 'Token is invalid or expired'

/**
 * Register, sign in, refresh; the profile; email verification. Password and API-key routes are
 * registered from here too (passwordRoutes.ts, apiKeyRoutes.ts). Rate limits: the spec's
 * authentication group (5 per minute) for everything that takes or mints a credential; the
 * profile is read on every dashboard page, so it is in the default group.
 */
export const authRoutes: FastifyPluginAsyncTypebox<AuthRoutesOptions> = async (app, deps) => {
  const accountDeps: AccountDeps = { store: deps.store, db: deps.db, credentialVersions: deps.credentialVersions, apiKeys: deps.apiKeys }

  // not `idempotent`: the answer carries a token pair, which the idempotency store would keep in
  // clear text for a day; a repeated registration is refused anyway (the email is taken)
  app.post('/api/auth/register/', { schema: { body: RegisterBody }, config: { rateLimit: 'auth' } }, async (request, reply) => {
    const { body } = request
    const { user, position, mail } = await registerUser(
      deps,
      {
        email: body.email,
        password: body.password,
        firstName: body.first_name,
        lastName: body.last_name ?? '',
        tenantName: body.tenant_name,
        timezone: body.timezone,
      },
      { ...requestBase(request, deps.clock), actor: { userId: null, name: body.email } },
    )
    sendInBackground(deps.mailer, mail, request.log)
    const principal = principalFor(user)
    const membership = user.memberships[0]!
    return reply
      .status(201)
      .header(POSITION_HEADER, String(position))
      .send({
        success: true,
        data: {
          ...app.issueTokens(principal, { credentialVersion: 0 }),
          user: profileView(user, { tenantId: membership.tenantId, name: membership.tenantName, role: membership.role }),
        },
        position,
      })
  })

  app.post('/api/auth/login/', { schema: { body: LoginBody }, config: { rateLimit: 'auth' } }, async (request) => {
    const { user, credentialVersion, platformAdmin } = await authenticateUser(deps, request.body.email, request.body.password)
    const principal = principalFor(user, null, { platformAdmin })
    return {
      success: true,
      data: { ...app.issueTokens(principal, { credentialVersion }), user: profileView(user, await viewTenantOf(deps.store, user, principal.tenantId)) },
    }
  })

  app.post('/api/auth/token/refresh/', { schema: { body: RefreshBody }, config: { rateLimit: 'auth' } }, async (request) => {
    const claims = app.verifyRefreshToken(request.body.refresh)
    // a password change since the token was issued revokes it (checked against the database itself)
    const [user, status] = await Promise.all([loadUser(deps.store, claims.sub), credentialStatusOf(deps.db, claims.sub)])
    if (!user || status === null || (claims.cv ?? 0) !== status.version) throw new AuthenticationRequired(INVALID_REFRESH)
    // the membership is checked again: a user removed from the tenant gets no new access to it; and
    // the platform-admin flag is read again: a revoked operator's new tokens no longer carry it
    const principal = principalFor(user, claims.tid, { platformAdmin: status.platformAdmin })
    if (claims.tid && principal.tenantId !== claims.tid) throw new AuthenticationRequired(INVALID_REFRESH)
    return { success: true, data: app.issueTokens(principal, { credentialVersion: status.version }) }
  })

  app.get('/api/auth/profile/', { preHandler: app.authenticate }, async (request) => {
    const user = await callerUser(deps, request)
    return { success: true, data: profileView(user, await viewTenantOf(deps.store, user, callerOf(request).tenantId)) }
  })

  app.put(
    '/api/auth/profile/',
    {
      schema: { body: ProfileBody },
      preHandler: app.authenticate,
      // every field is optional, and so is the body
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {}
      },
    },
    async (request, reply) => {
      const caller = callerOf(request)
      const user = await callerUser(deps, request)
      const { body } = request
      const errors: Record<string, string[]> = {}
      if (body.email !== undefined && body.email.trim().toLowerCase() !== user.email) errors.email = ['The email address cannot be changed.']
      const firstName = body.first_name?.trim()
      if (firstName === '') errors.first_name = ['This field may not be blank.']
      if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
      const context = userContext(requestBase(request, deps.clock), user, caller.tenantId)
      const outcome = await updateProfile(accountDeps, context, user.userId, { firstName, lastName: body.last_name?.trim() })
      return replyWithPosition(reply, 200, outcome.position, {
        success: true,
        message: 'Profile updated successfully',
        data: profileView(outcome.user, await viewTenantOf(deps.store, outcome.user, caller.tenantId)),
      })
    },
  )

  // the token from the mail is the credential: no sign-in needed
  app.post('/api/auth/verify-email/', { schema: { body: TokenBody }, config: { rateLimit: 'auth' } }, async (request, reply) => {
    const outcome = await verifyEmail(accountDeps, requestBase(request, deps.clock), request.body.token)
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Email verified successfully',
      data: { id: outcome.user.userId, email: outcome.user.email, is_email_verified: outcome.user.emailVerified },
    })
  })

  /** Not in the spec: a new verification mail for a signed-in user whose email is not verified yet. */
  app.post('/api/auth/verify-email/resend/', { preHandler: app.authenticate, config: { rateLimit: 'auth' } }, async (request) => {
    const user = await callerUser(deps, request)
    const mail = await resendVerification(accountDeps, user, deps.clock.now())
    sendInBackground(deps.mailer, mail, request.log)
    return { success: true, message: 'A new verification email has been sent.' }
  })

  await app.register(passwordRoutes, { ...deps, accountDeps })
  await app.register(apiKeyRoutes, { store: deps.store, clock: deps.clock, apiKeys: deps.apiKeys })
}
