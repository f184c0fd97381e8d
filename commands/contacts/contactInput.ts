import { Type, type Static } from 'typebox'
import { ValidationFailed } from '../../infra/errors.ts'
import { compileBodyValidator } from '../../infra/http/validation.ts'
import type { ProfileChanges, ProfileReplacement } from './contactDecider.ts'
import { Attributes } from './contactEvents.ts'
import { normalizePhone, type CountryCode } from './phoneNumber.ts'

/** The body of POST /contacts/ (create or upsert) and of each bulk-import row. */
export const ContactUpsertBody = Type.Object({
  name: Type.Optional(Type.String({ maxLength: 200 })),
  phone_e164: Type.Optional(Type.Union([Type.String({ maxLength: 40 }), Type.Null()])),
  // the address's form is checked by contactInputFrom, for a plain "Enter a valid email address."
  // where the union would say "Does not match any allowed form."
  email: Type.Optional(Type.Union([Type.String({ maxLength: 254 }), Type.Null()])),
  attributes: Type.Optional(Attributes),
  tags: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 100 })),
  is_active: Type.Optional(Type.Boolean()),
  is_opted_in: Type.Optional(Type.Boolean()),
})
export type ContactUpsertBody = Static<typeof ContactUpsertBody>

/** Upsert input after normalization: the keys that identify a contact, and the changes. */
export interface ContactInput {
  phone: string | null
  email: string | null
  changes: ProfileChanges
}

export function normalizeTags(tags: readonly string[]): string[] {
  const seen = new Set<string>()
  for (const tag of tags) {
    const normalized = tag.trim().toLowerCase()
    if (normalized) seen.add(normalized)
  }
  return [...seen]
}

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase()
}

const validateEmail = compileBodyValidator(Type.String({ format: 'email' }))

/** Normalizes a validated body; throws the spec's field errors for what the schema cannot see. */
export function contactInputFrom(body: ContactUpsertBody, defaultCountry: CountryCode): ContactInput {
  const errors: Record<string, string[]> = {}
  let phone: string | null = null
  if (body.phone_e164) {
    phone = normalizePhone(body.phone_e164, defaultCountry)
    if (!phone) errors.phone_e164 = ['Invalid E.164 format']
  }
  const email = body.email ? normalizeEmail(body.email) : null
  if (email !== null && validateEmail(email)) errors.email = ['Enter a valid email address.']
  if (!body.phone_e164 && !body.email) errors.phone_e164 = ['Either phone_e164 or email is required.']
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)

  const changes: ProfileChanges = {}
  const name = body.name?.trim()
  if (name) changes.name = name
  if (phone) changes.phone = phone
  if (email) changes.email = email
  if (body.tags) changes.tags = normalizeTags(body.tags)
  if (body.attributes) changes.attributes = body.attributes
  if (body.is_active !== undefined) changes.isActive = body.is_active
  if (body.is_opted_in !== undefined) changes.isOptedIn = body.is_opted_in
  return { phone, email, changes }
}

/** The body of PUT /contacts/{id}/: the same fields, read as a whole new profile. */
export const ContactReplaceBody = ContactUpsertBody
export type ContactReplaceBody = ContactUpsertBody

/**
 * Normalizes a PUT body into a whole profile, with the same rules as an upsert (E.164, lowercase
 * email, tags, flat attributes); fields left out take their defaults.
 */
export function contactReplacementFrom(body: ContactReplaceBody, defaultCountry: CountryCode): ProfileReplacement {
  const { phone, email, changes } = contactInputFrom(body, defaultCountry)
  return {
    name: changes.name ?? null,
    phone,
    email,
    tags: changes.tags ?? [],
    attributes: changes.attributes ?? {},
    isActive: changes.isActive ?? true,
    ...(changes.isOptedIn !== undefined ? { isOptedIn: changes.isOptedIn } : {}),
  }
}
