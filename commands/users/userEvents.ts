import { Type, type Static } from 'typebox'

export const TenantRole = Type.Union([Type.Literal('admin'), Type.Literal('user'), Type.Literal('agent')])

export const UserRegistered = Type.Object({
  type: Type.Literal('userRegistered'),
  data: Type.Object({
    userId: Type.String(),
    email: Type.String(),
    firstName: Type.String(),
    lastName: Type.String(),
    at: Type.String(),
  }),
})

export const UserJoinedTenant = Type.Object({
  type: Type.Literal('userJoinedTenant'),
  data: Type.Object({
    userId: Type.String(),
    tenantId: Type.String(),
    tenantName: Type.String(),
    role: TenantRole,
    at: Type.String(),
  }),
})

export const UserEvent = Type.Union([UserRegistered, UserJoinedTenant])
export type UserEvent = Static<typeof UserEvent>
