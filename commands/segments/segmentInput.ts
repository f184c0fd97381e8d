import { Type, type Static } from 'typebox'
import { ValidationFailed } from '../../infra/errors.ts'
import { ContactCriteriaBody, contactCriteriaFrom } from '../contactCriteria.ts'
import type { SegmentDefinition } from './segmentDecider.ts'

/** The body of POST /segments/ and of PUT /segments/{id}/ (which replaces the definition whole). */
export const SegmentBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(Type.Union([Type.String({ maxLength: 1000 }), Type.Null()])),
  criteria: ContactCriteriaBody,
})
export type SegmentBody = Static<typeof SegmentBody>

export function segmentDefinitionFrom(body: SegmentBody): SegmentDefinition {
  const name = body.name.trim()
  if (!name) throw new ValidationFailed({ name: ['This field may not be blank.'] })
  return { name, description: body.description?.trim() ?? '', criteria: contactCriteriaFrom(body.criteria) }
}
