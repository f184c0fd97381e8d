import { Type, type Static } from 'typebox'
import { ValidationFailed } from '../../infra/errors.ts'
import { Channel } from '../eventParts.ts'
import type { TemplateChannel } from './templateDecider.ts'

/** The body of POST /templates/. */
export const TemplateCreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  channel: Channel,
  category: Type.String({ minLength: 1, maxLength: 50 }),
  /** a language code such as "sw", "en" or "en-gb" */
  language: Type.String({ minLength: 2, maxLength: 10, pattern: '^[a-z]+(-[a-z]+)*$' }),
  content: Type.String({ minLength: 1, maxLength: 4096 }),
})
export type TemplateCreateBody = Static<typeof TemplateCreateBody>

export interface TemplateInput {
  name: string
  channel: TemplateChannel
  category: string
  language: string
  content: string
}

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
