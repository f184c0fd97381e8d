import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { ApiKeyRow, ApiKeyStore } from '../../infra/auth/apiKeys.ts'
import type { Clock } from '../../infra/clock.ts'
import { invalidStatus, NotFound, PermissionDenied, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { tenantPrincipal } from '../../infra/http/authentication.ts'
import { isUuid } from '../../infra/ids.ts'
import { callerUser } from './requestContext.ts'
import { fullName } from './userDecider.ts'

export interface ApiKeyRoutesOptions {
  store: EventStore
  clock: Clock
  apiKeys: ApiKeyStore
}

const GenerateBody = Type.Object({ name: Type.Optional(Type.String({ maxLength: 100 })) })

const RevokeBody = Type.Object({
  key_id: Type.Optional(Type.String({ maxLength: 64 })),
  prefix: Type.Optional(Type.String({ maxLength: 64 })),
})

const DEFAULT_NAME = 'API key'

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString())

/** A key as lists and answers show it: never its hash, and its clear text only once, at generation. */
export function apiKeyView(row: Omit<ApiKeyRow, 'key_hash'>) {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    user_id: row.user_id,
    tenant_id: row.tenant_id,
    role: row.role,
    is_active: row.revoked_at === null,
    created_at: iso(row.created_at),
    last_used_at: iso(row.last_used_at),
    revoked_at: iso(row.revoked_at),
  }
}

/**
 * API keys of the caller in the token's tenant. A key acts as its owner in that tenant with the
 * role the owner had when it was made. A key cannot mint keys (a leaked key must not be able to
 * outlive its revocation), but it may revoke itself.
 */
export const apiKeyRoutes: FastifyPluginAsyncTypebox<ApiKeyRoutesOptions> = async (app, { store, clock, apiKeys }) => {
  app.addHook('preHandler', app.authenticate)

  // not `idempotent`: a replayed answer would have to keep the key in clear text for a day
  app.post(
    '/api/auth/api-key/generate/',
    {
      schema: { body: GenerateBody },
      config: { rateLimit: 'auth' },
      // the name is optional, and so is the body that carries it
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {}
      },
    },
    async (request, reply) => {
      const principal = tenantPrincipal(request)
      if (principal.authenticatedWith === 'api_key') throw new PermissionDenied('An API key cannot generate API keys; sign in to make one.')
      const user = await callerUser({ store }, request)
      const membership = user.memberships.find((m) => m.tenantId === principal.tenantId)
      if (!membership) throw new PermissionDenied('You are no longer a member of this tenant.')
      const { key, row } = await apiKeys.generate({
        name: request.body.name?.trim() || DEFAULT_NAME,
        userId: user.userId,
        tenantId: membership.tenantId,
        role: membership.role,
        userName: fullName(user),
        userEmail: user.email,
        now: clock.now(),
      })
      return reply
        .status(201)
        .header('cache-control', 'no-store')
        .send({
          success: true,
          message: 'API key generated. Copy it now: it is not shown again.',
          data: { ...apiKeyView(row), key },
        })
    },
  )

  /**
   * By `key_id` or `prefix`. The owner may revoke their key; an admin may revoke any key of the
   * tenant. Others' keys, and keys of other tenants, are not found.
   */
  app.post('/api/auth/api-key/revoke/', { schema: { body: RevokeBody }, config: { rateLimit: 'auth' } }, async (request) => {
    const principal = tenantPrincipal(request)
    const { key_id: keyId, prefix } = request.body
    if (!keyId && !prefix) throw new ValidationFailed({ key_id: ['This field is required (or give prefix).'] })
    if (keyId && !isUuid(keyId)) throw ValidationFailed.field('key_id', 'Must be a valid uuid.')
    const row = keyId ? await apiKeys.findById(keyId.toLowerCase()) : await apiKeys.findByPrefix(prefix!.trim().toLowerCase())
    const visible = row && row.tenant_id === principal.tenantId && (row.user_id === principal.userId || principal.role === 'admin')
    if (!row || !visible) throw new NotFound('API key not found')
    if (row.revoked_at !== null) throw invalidStatus('API key is already revoked', 'revoked', ['active'])
    const revoked = await apiKeys.revoke(row.id, clock.now())
    if (!revoked) throw invalidStatus('API key is already revoked', 'revoked', ['active'])
    return { success: true, message: 'API key revoked successfully', data: apiKeyView(revoked) }
  })

  /** Not in the spec: the caller's keys in this tenant, newest first (for the settings page). */
  app.get('/api/auth/api-key/', async (request) => {
    const principal = tenantPrincipal(request)
    const rows = await apiKeys.listFor(principal.userId, principal.tenantId)
    return { success: true, data: { results: rows.map(apiKeyView), count: rows.length, next: null, previous: null } }
  })
}
