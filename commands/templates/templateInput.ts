import { Type, type Static } from 'typebox'
import { ValidationFailed } from '../../infra/errors.ts'
import type { TemplateContent } from './templateDecider.ts'

/** an enum rather than the events' union of literals: a wrong value reads "Must be one of: sms, whatsapp." */
const Channel = Type.Enum(['sms', 'whatsapp'])
const Name = Type.String({ minLength: 1, maxLength: 200 })
const Category = Type.String({ minLength: 1, maxLength: 50 })
/** a language code such as "sw", "en" or "en-gb" */
const Language = Type.String({ minLength: 2, maxLength: 10, pattern: '^[a-z]+(-[a-z]+)*$' })
const Content = Type.String({ minLength: 1, maxLength: 4096 })

/** The body of POST /templates/. */
export const TemplateCreateBody = Type.Object({
  name: Name,
  channel: Channel,
  category: Category,
  language: Language,
  content: Content,
})
export type TemplateCreateBody = Static<typeof TemplateCreateBody>

/** The body of PUT /templates/{id}/: any of the editable fields; those left out keep their value. */
export const TemplateUpdateBody = Type.Object({
  name: Type.Optional(Name),
  channel: Type.Optional(Channel),
  category: Type.Optional(Category),
  language: Type.Optional(Language),
  content: Type.Optional(Content),
})
export type TemplateUpdateBody = Static<typeof TemplateUpdateBody>

/** The body of POST /templates/{id}/reject/. */
export const TemplateRejectBody = Type.Object({
  reason: Type.String({ minLength: 1, maxLength: 500 }),
})
export type TemplateRejectBody = Static<typeof TemplateRejectBody>

export type TemplateInput = TemplateContent

const BLANK = 'This field may not be blank.'

/** Normalizes a validated body; throws the spec's field errors for what the schema cannot see. */
export function templateInputFrom(body: TemplateCreateBody): TemplateInput {
  const name = body.name.trim()
  const category = body.category.trim().toLowerCase()
  const errors: Record<string, string[]> = {}
  if (!name) errors.name = [BLANK]
  if (!category) errors.category = [BLANK]
  if (!body.content.trim()) errors.content = [BLANK]
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
  return { name, channel: body.channel, category, language: body.language, content: body.content }
}

/** The fields a PUT changes, normalized as on creation; an empty body is a 400. */
export function templateChangesFrom(given: TemplateUpdateBody): Partial<TemplateInput> {
  const changes: Partial<TemplateInput> = {}
  const errors: Record<string, string[]> = {}
  if (given.name !== undefined) {
    changes.name = given.name.trim()
    if (!changes.name) errors.name = [BLANK]
  }
  if (given.category !== undefined) {
    changes.category = given.category.trim().toLowerCase()
    if (!changes.category) errors.category = [BLANK]
  }
  if (given.content !== undefined) {
    changes.content = given.content
    if (!given.content.trim()) errors.content = [BLANK]
  }
  if (given.channel !== undefined) changes.channel = given.channel
  if (given.language !== undefined) changes.language = given.language
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
  if (Object.keys(changes).length === 0) {
    throw new ValidationFailed({ non_field_errors: ['Give at least one of: name, channel, category, language, content.'] })
  }
  return changes
}
