import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { credentialStatusOf, findCredentialsByEmail, type CredentialTables } from '../../infra/auth/credentialStore.ts'
import type { Clock } from '../../infra/clock.ts'
import { AuthenticationRequired, NotFound, PermissionDenied, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import type { CommandContext } from '../commandContext.ts'
import { replyWithPosition } from '../httpCommand.ts'
import { principalFor } from '../users/registration.ts'
import { callerOf, callerUser, requestBase } from '../users/requestContext.ts'
import { fullName } from '../users/userDecider.ts'
import { TenantRole } from '../users/userEvents.ts'
import { profileView } from '../users/userView.ts'
import { addMember, createTenant, findTenant, membershipOf, requireAdmin, tenantsOf, updateTenant, validTenantSettings } from './tenantCommands.ts'
import { tenantView } from './tenantView.ts'

export interface TenantRoutesOptions {
  store: EventStore
  db: Kysely<CredentialTables>
  clock: Clock
  defaultTimezone: string
  defaultCountry: string
}

const TenantParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

const CreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  country: Type.Optional(Type.String({ minLength: 2, maxLength: 2 })),
})

const UpdateBody = Type.Object({
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
  timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  country: Type.Optional(Type.String({ minLength: 2, maxLength: 2 })),
})

const SwitchBody = Type.Object({ tenant_id: Type.String({ format: 'uuid' }) })

const MemberBody = Type.Object({
  email: Type.String({ format: 'email', maxLength: 254 }),
  role: TenantRole,
})

/**
 * The caller's tenants. These routes are scoped by membership (read from the caller's own stream),
 * not by the token's tenant: a user sees and switches between all of their tenants. A tenant the
 * caller does not belong to is not found; settings and members change only by its admins (403
 * for users and agents).
 */
export const tenantRoutes: FastifyPluginAsyncTypebox<TenantRoutesOptions> = async (app, options) => {
  const { store, db, clock } = options
  app.addHook('preHandler', app.authenticate)

  // a user belongs to a handful of tenants: one page holds them all
  app.get('/api/tenants/', async (request) => {
    const caller = callerOf(request)
    const user = await callerUser(options, request)
    const results = (await tenantsOf(store, user)).map(({ tenant, membership }) => tenantView(tenant, membership, caller.tenantId))
    return { success: true, data: { results, count: results.length, next: null, previous: null } }
  })

  app.post('/api/tenants/', { schema: { body: CreateBody }, config: { idempotent: true } }, async (request, reply) => {
    const caller = callerOf(request)
    const { name, timezone, country } = validTenantSettings({
      name: request.body.name,
      timezone: request.body.timezone ?? options.defaultTimezone,
      country: request.body.country ?? options.defaultCountry,
    })
    const outcome = await createTenant(store, requestBase(request, clock), caller.userId, { name: name!, timezone: timezone!, country: country! })
    return replyWithPosition(reply, 201, outcome.position, {
      success: true,
      message: 'Tenant created successfully',
      data: tenantView(outcome.tenant, outcome.membership, caller.tenantId),
    })
  })

  /** A token pair for another of the caller's tenants (the same user, that tenant's role). */
  app.post('/api/tenants/switch/', { schema: { body: SwitchBody } }, async (request) => {
    const caller = callerOf(request)
    if (caller.authenticatedWith === 'api_key') throw new PermissionDenied('An API key belongs to one tenant; sign in to switch tenants.')
    const user = await callerUser(options, request)
    const tenantId = request.body.tenant_id.toLowerCase()
    const membership = membershipOf(user, tenantId)
    const [tenant, status] = await Promise.all([findTenant(store, tenantId), credentialStatusOf(db, user.userId)])
    if (status === null) throw new AuthenticationRequired()
    if (!tenant) throw new NotFound('Tenant not found')
    const tokens = app.issueTokens(principalFor(user, tenantId, { platformAdmin: status.platformAdmin }), { credentialVersion: status.version })
    return {
      success: true,
      message: `Switched to ${tenant.name}`,
      data: {
        ...tokens,
        tenant: tenantView(tenant, membership, tenantId),
        user: profileView(user, { tenantId, name: tenant.name, role: membership.role }),
      },
    }
  })

  app.get('/api/tenants/:id/', { schema: { params: TenantParams } }, async (request) => {
    const caller = callerOf(request)
    const user = await callerUser(options, request)
    const tenantId = request.params.id.toLowerCase()
    const membership = membershipOf(user, tenantId)
    const tenant = await findTenant(store, tenantId)
    if (!tenant) throw new NotFound('Tenant not found')
    return { success: true, data: tenantView(tenant, membership, caller.tenantId) }
  })

  app.put(
    '/api/tenants/:id/',
    {
      schema: { params: TenantParams, body: UpdateBody },
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {}
      },
    },
    async (request, reply) => {
      const caller = callerOf(request)
      const user = await callerUser(options, request)
      const tenantId = request.params.id.toLowerCase()
      const membership = requireAdmin(user, tenantId)
      const settings = validTenantSettings(request.body)
      const context: CommandContext = { ...requestBase(request, clock), tenantId, actor: { userId: user.userId, name: fullName(user) } }
      const outcome = await updateTenant(store, context, settings)
      return replyWithPosition(reply, 200, outcome.position, {
        success: true,
        message: 'Tenant updated successfully',
        data: tenantView(outcome.tenant, membership, caller.tenantId),
      })
    },
  )

  /** Not in the spec: an admin adds a registered user to the tenant with a role. */
  app.post('/api/tenants/:id/members/', { schema: { params: TenantParams, body: MemberBody }, config: { idempotent: true } }, async (request, reply) => {
    const user = await callerUser(options, request)
    const tenantId = request.params.id.toLowerCase()
    requireAdmin(user, tenantId)
    const credentials = await findCredentialsByEmail(db, request.body.email.trim().toLowerCase())
    if (!credentials) throw ValidationFailed.field('email', 'No registered user has this email.')
    const context: CommandContext = { ...requestBase(request, clock), tenantId, actor: { userId: user.userId, name: fullName(user) } }
    const outcome = await addMember(store, context, credentials.user_id, request.body.role)
    const member = outcome.member
    return replyWithPosition(reply, 201, outcome.position, {
      success: true,
      message: 'Member added successfully',
      data: {
        tenant_id: tenantId,
        user_id: member.userId,
        email: member.email,
        full_name: fullName(member),
        role: request.body.role,
        member_count: outcome.tenant.memberIds.length,
        joined_at: context.now.toISOString(),
      },
    })
  })
}
