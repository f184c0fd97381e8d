import { Type, type Static } from 'typebox'

/** Attribute values are flat: strings, numbers and booleans only. */
export const AttributeValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()])
export const Attributes = Type.Record(Type.String(), AttributeValue)
export type Attributes = Static<typeof Attributes>

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

/** A contact's editable profile, as events carry it: always whole, never a diff. */
export const ContactProfile = Type.Object({
  name: Type.String(),
  phone: Nullable(Type.String()),
  email: Nullable(Type.String()),
  tags: Type.Array(Type.String()),
  attributes: Attributes,
  isActive: Type.Boolean(),
})
export type ContactProfile = Static<typeof ContactProfile>

export const ContactCreated = Type.Object({
  type: Type.Literal('contactCreated'),
  data: Type.Object({
    contactId: Type.String(),
    tenantId: Type.String(),
    profile: ContactProfile,
    /** how it arrived: one by one, or in a bulk import (`importId` groups those) */
    source: Type.Union([Type.Literal('api'), Type.Literal('bulk_import')]),
    importId: Nullable(Type.String()),
    at: Type.String(),
  }),
})

export const ContactUpdated = Type.Object({
  type: Type.Literal('contactUpdated'),
  data: Type.Object({
    contactId: Type.String(),
    tenantId: Type.String(),
    profile: ContactProfile,
    changedFields: Type.Array(Type.String()),
    at: Type.String(),
  }),
})

export const ContactOptedIn = Type.Object({
  type: Type.Literal('contactOptedIn'),
  data: Type.Object({ contactId: Type.String(), tenantId: Type.String(), at: Type.String() }),
})

export const ContactOptedOut = Type.Object({
  type: Type.Literal('contactOptedOut'),
  data: Type.Object({ contactId: Type.String(), tenantId: Type.String(), reason: Type.String(), at: Type.String() }),
})

export const ContactDeleted = Type.Object({
  type: Type.Literal('contactDeleted'),
  data: Type.Object({ contactId: Type.String(), tenantId: Type.String(), at: Type.String() }),
})

export const ContactEvent = Type.Union([ContactCreated, ContactUpdated, ContactOptedIn, ContactOptedOut, ContactDeleted])
export type ContactEvent = Static<typeof ContactEvent>
export type ContactEventType = ContactEvent['type']

export const contactEventTypes = ['contactCreated', 'contactUpdated', 'contactOptedIn', 'contactOptedOut', 'contactDeleted'] as const satisfies readonly ContactEventType[]

/**
 * Uniqueness of a phone number or an email within a tenant: one small stream per key
 * (`contactPhone-<tenant>:<e164>`, `contactEmail-<tenant>:<email>`) records which contact holds it.
 * Claiming with the stream's version as the expected version makes two concurrent claims of the
 * same key collide on every event store, so at most one contact ever holds a key.
 */
export const ContactKeyClaimed = Type.Object({
  type: Type.Literal('contactKeyClaimed'),
  data: Type.Object({ key: Type.String(), kind: Type.Union([Type.Literal('phone'), Type.Literal('email')]), contactId: Type.String() }),
})

export const ContactKeyReleased = Type.Object({
  type: Type.Literal('contactKeyReleased'),
  data: Type.Object({ key: Type.String(), kind: Type.Union([Type.Literal('phone'), Type.Literal('email')]), contactId: Type.String() }),
})

export const ContactKeyEvent = Type.Union([ContactKeyClaimed, ContactKeyReleased])
export type ContactKeyEvent = Static<typeof ContactKeyEvent>
