import { Type, type Static } from 'typebox'
import { ValidationFailed } from '../../infra/errors.ts'
import { CampaignType } from './campaignEvents.ts'

export const MAX_TARGET_CONTACTS = 100_000

/**
 * A string or null with string constraints, as one JSON-schema type list (not a union), so a
 * refusal names the real problem ("no more than 1600 characters") instead of "no allowed form".
 */
const StringOrNull = (options: { minLength?: number; maxLength?: number; format?: string; description?: string }) =>
  Type.Unsafe<string | null>({ type: ['string', 'null'], ...options })

/** Accepted and ignored for now: segments, criteria, settings and recurrence come later. */
const NotYetUsed = Type.Optional(Type.Unknown({ description: 'accepted; not used yet' }))

/** The body of POST /campaigns/ (the spec's create sample). */
export const CampaignCreateBody = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Optional(StringOrNull({ maxLength: 2000 })),
  campaign_type: Type.Optional(CampaignType),
  message_text: Type.Optional(StringOrNull({ minLength: 1, maxLength: 1600, description: 'required unless a template is given' })),
  template: Type.Optional(StringOrNull({ format: 'uuid', description: 'an approved template of the tenant' })),
  scheduled_at: Type.Optional(StringOrNull({ format: 'date-time' })),
  target_contact_ids: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { maxItems: MAX_TARGET_CONTACTS })),
  target_segment_ids: NotYetUsed,
  target_criteria: NotYetUsed,
  settings: NotYetUsed,
  is_recurring: NotYetUsed,
  recurring_schedule: NotYetUsed,
})
export type CampaignCreateBody = Static<typeof CampaignCreateBody>

export interface CampaignInput {
  name: string
  description: string
  campaignType: CampaignType
  /** null: the template's content is the message */
  messageText: string | null
  templateId: string | null
  /** ISO-8601 in UTC, or null */
  scheduledAt: string | null
  /** distinct, lowercase, in the order given */
  targetContactIds: string[]
}

/** Normalizes a validated body; throws the spec's field errors for what the schema cannot see. */
export function campaignInputFrom(body: CampaignCreateBody): CampaignInput {
  const name = body.name.trim()
  const messageText = body.message_text ?? null
  const templateId = body.template?.toLowerCase() ?? null
  const errors: Record<string, string[]> = {}
  if (!name) errors.name = ['This field may not be blank.']
  if (messageText !== null && !messageText.trim()) errors.message_text = ['This field may not be blank.']
  if (messageText === null && templateId === null) errors.message_text = ['This field is required unless a template is given.']
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
  return {
    name,
    description: body.description?.trim() ?? '',
    campaignType: body.campaign_type ?? 'sms',
    messageText,
    templateId,
    scheduledAt: body.scheduled_at ? new Date(body.scheduled_at).toISOString() : null,
    targetContactIds: [...new Set((body.target_contact_ids ?? []).map((id) => id.toLowerCase()))],
  }
}
