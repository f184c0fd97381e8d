import { Type, type Static } from 'typebox'

export const TenantRole = Type.Union([Type.Literal('admin'), Type.Literal('user'), Type.Literal('agent')])

/** A user's profile: registration records it, profile updates record it whole again. */
const UserProfile = {
  userId: Type.String(),
  email: Type.String(),
  firstName: Type.String(),
  lastName: Type.String(),
}

export const UserRegistered = Type.Object({
  type: Type.Literal('userRegistered'),
  data: Type.Object({ ...UserProfile, at: Type.String() }),
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

/** The user's names changed (PUT /auth/profile/); carries the whole new profile. */
export const UserProfileUpdated = Type.Object({
  type: Type.Literal('userProfileUpdated'),
  data: Type.Object({ ...UserProfile, at: Type.String() }),
})

/** The user proved they receive mail at this address (a verification token from it was used). */
export const UserEmailVerified = Type.Object({
  type: Type.Literal('userEmailVerified'),
  data: Type.Object({
    userId: Type.String(),
    email: Type.String(),
    at: Type.String(),
  }),
})

/**
 * The password was changed (by the user, knowing the old one) or reset (through a mailed token).
 * The fact only: the hash lives in the credentials table, never in an event.
 */
export const UserPasswordChanged = Type.Object({
  type: Type.Literal('userPasswordChanged'),
  data: Type.Object({
    userId: Type.String(),
    method: Type.Union([Type.Literal('change'), Type.Literal('reset')]),
    at: Type.String(),
  }),
})

export const UserEvent = Type.Union([UserRegistered, UserJoinedTenant, UserProfileUpdated, UserEmailVerified, UserPasswordChanged])
export type UserEvent = Static<typeof UserEvent>
