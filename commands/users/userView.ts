import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { findTenant } from '../tenants/tenantCommands.ts'
import type { ActiveUser } from './registration.ts'
import { fullName } from './userDecider.ts'

/** The user's tenant for a view: the membership, with the tenant's current name. */
export interface ViewTenant {
  tenantId: string
  name: string
  role: string
}

/**
 * The membership of `tenantId` (the first one when null is not asked for explicitly), with the
 * tenant's name as it is now: a rename is a tenant event, the membership keeps the name it had.
 */
export async function viewTenantOf(store: EventStore, user: ActiveUser, tenantId: string | null): Promise<ViewTenant | null> {
  const membership = tenantId ? user.memberships.find((m) => m.tenantId === tenantId) : undefined
  if (!membership) return null
  const tenant = await findTenant(store, membership.tenantId)
  return { tenantId: membership.tenantId, name: tenant?.name ?? membership.tenantName, role: membership.role }
}

/** GET /auth/profile/, and the `user` of register and login. */
export function profileView(user: ActiveUser, tenant: ViewTenant | null) {
  return {
    id: user.userId,
    email: user.email,
    first_name: user.firstName,
    last_name: user.lastName,
    full_name: fullName(user),
    is_email_verified: user.emailVerified,
    tenant_id: tenant?.tenantId ?? null,
    tenant_name: tenant?.name ?? null,
    role: tenant?.role ?? null,
    date_joined: user.createdAt,
    updated_at: user.updatedAt,
  }
}
