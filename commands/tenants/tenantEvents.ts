import { Type, type Static } from 'typebox'

export const TenantCreated = Type.Object({
  type: Type.Literal('tenantCreated'),
  data: Type.Object({
    tenantId: Type.String(),
    name: Type.String(),
    /** IANA zone: "today" and "this month" of the tenant's statistics are in it */
    timezone: Type.String(),
    /** ISO 3166 country for reading local phone numbers */
    country: Type.String(),
    createdBy: Type.Object({ userId: Type.Union([Type.String(), Type.Null()]), name: Type.String() }),
    at: Type.String(),
  }),
})

export const TenantEvent = Type.Union([TenantCreated])
export type TenantEvent = Static<typeof TenantEvent>
