import { Type, type Static } from 'typebox'
import { Attributes } from './contacts/contactEvents.ts'
import { normalizeTags } from './contacts/contactInput.ts'

/**
 * Criteria that select a tenant's contacts: the definition of a segment, and a campaign's
 * `target_criteria`. A contact matches when every given condition holds:
 * - tags: it carries at least one of the tags;
 * - opt_in_status: opted_in, opted_out (opted out explicitly), never_opted_in, or any;
 * - attributes: each named attribute equals the given value;
 * - is_active: its active flag is this value.
 * Deleted contacts never match.
 */
export const ContactCriteriaBody = Type.Object(
  {
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 50 })),
    opt_in_status: Type.Optional(Type.Enum(['opted_in', 'opted_out', 'never_opted_in', 'any'])),
    attributes: Type.Optional(Attributes),
    is_active: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
)
export type ContactCriteriaBody = Static<typeof ContactCriteriaBody>

/** The normalized form that events carry. */
export const ContactCriteria = Type.Object({
  tags: Type.Array(Type.String()),
  optInStatus: Type.Union([Type.Literal('opted_in'), Type.Literal('opted_out'), Type.Literal('never_opted_in'), Type.Literal('any')]),
  attributes: Attributes,
  isActive: Type.Union([Type.Boolean(), Type.Null()]),
})
export type ContactCriteria = Static<typeof ContactCriteria>

export function contactCriteriaFrom(body: ContactCriteriaBody): ContactCriteria {
  return {
    tags: normalizeTags(body.tags ?? []),
    optInStatus: body.opt_in_status ?? 'any',
    attributes: body.attributes ?? {},
    isActive: body.is_active ?? null,
  }
}

/** Back to the API's snake_case form. */
export function contactCriteriaView(criteria: ContactCriteria): ContactCriteriaBody {
  return {
    ...(criteria.tags.length > 0 ? { tags: criteria.tags } : {}),
    opt_in_status: criteria.optInStatus,
    ...(Object.keys(criteria.attributes).length > 0 ? { attributes: criteria.attributes } : {}),
    ...(criteria.isActive !== null ? { is_active: criteria.isActive } : {}),
  }
}
