import { Type, type Static } from 'typebox'
import { TenantRole } from '../users/userEvents.ts'

const Actor = Type.Object({ userId: Type.Union([Type.String(), Type.Null()]), name: Type.String() })

export const TenantCreated = Type.Object({
  type: Type.Literal('tenantCreated'),
  data: Type.Object({
    tenantId: Type.String(),
    name: Type.String(),
    /** IANA zone: "today" and "this month" of the tenant's statistics are in it */
    timezone: Type.String(),
    /** ISO 3166 country for reading local phone numbers */
    country: Type.String(),
    /** the tenant's first member (its admin), unless the system created it */
    createdBy: Actor,
    at: Type.String(),
  }),
})

/**
 * The tenant's settings changed. Carries all of them as they are now (and which ones changed), so a
 * reader never needs the earlier events: projections that bucket by the tenant's time zone take
 * `timezone` from here for the events that follow.
 */
export const TenantUpdated = Type.Object({
  type: Type.Literal('tenantUpdated'),
  data: Type.Object({
    tenantId: Type.String(),
    name: Type.String(),
    timezone: Type.String(),
    country: Type.String(),
    changes: Type.Array(Type.Union([Type.Literal('name'), Type.Literal('timezone'), Type.Literal('country')])),
    updatedBy: Actor,
    at: Type.String(),
  }),
})

/** An admin added a registered user to the tenant (the user's stream records userJoinedTenant in the same append). */
export const TenantMemberAdded = Type.Object({
  type: Type.Literal('tenantMemberAdded'),
  data: Type.Object({
    tenantId: Type.String(),
    tenantName: Type.String(),
    userId: Type.String(),
    email: Type.String(),
    name: Type.String(),
    role: TenantRole,
    addedBy: Actor,
    at: Type.String(),
  }),
})

export const TenantEvent = Type.Union([TenantCreated, TenantUpdated, TenantMemberAdded])
export type TenantEvent = Static<typeof TenantEvent>
