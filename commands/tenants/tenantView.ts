import type { Membership } from '../users/userDecider.ts'
import type { ActiveTenant } from './tenantCommands.ts'

/** A tenant as the caller sees it: its settings, the caller's role in it, its size. */
export function tenantView(tenant: ActiveTenant, membership: Membership, currentTenantId: string | null) {
  return {
    id: tenant.tenantId,
    name: tenant.name,
    timezone: tenant.timezone,
    country: tenant.country,
    role: membership.role,
    member_count: tenant.memberIds.length,
    is_current: tenant.tenantId === currentTenantId,
    created_at: tenant.createdAt,
    updated_at: tenant.updatedAt,
  }
}
