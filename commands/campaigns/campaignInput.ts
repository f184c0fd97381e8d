import { Type, type Static } from 'typebox'
import { ValidationFailed } from '../../infra/errors.ts'
import { ContactCriteriaBody, contactCriteriaFrom, type ContactCriteria } from '../contactCriteria.ts'
import { CampaignType, type JsonObject } from './campaignEvents.ts'

export const MAX_TARGET_CONTACTS = 100_000
export const MAX_TARGET_SEGMENTS = 100
/** `settings` and `recurring_schedule` are kept as given, up to this many characters of JSON each */
export const MAX_JSON_OBJECT_CHARACTERS = 10_000

/**
 * A string or null with string constraints, as one JSON-schema type list (not a union), so a
 * refusal names the real problem ("no more than 1600 characters") instead of "no allowed form".
 */
const StringOrNull = (options: { minLength?: number; maxLength?: number; format?: string; description?: string }) =>
  Type.Unsafe<string | null>({ type: ['string', 'null'], ...options })

/** A free-form JSON object, or null for none. */
const ObjectOrNull = (description: string) => Type.Unsafe<JsonObject | null>({ type: ['object', 'null'], maxProperties: 100, description })

/** Contact criteria or null, as one type list too: a bad tag is reported at `target_criteria.tags.0`. */
const CriteriaOrNull = Type.Unsafe<ContactCriteriaBody | null>({
  type: ['object', 'null'],
  properties: ContactCriteriaBody.properties,
  additionalProperties: false,
  description: 'contacts matching every condition; {} or null: none',
})

const fields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: StringOrNull({ maxLength: 2000 }),
  campaign_type: CampaignType,
  message_text: StringOrNull({ minLength: 1, maxLength: 1600, description: 'required unless a template is given' }),
  template: StringOrNull({ format: 'uuid', description: 'an approved template of the tenant' }),
  scheduled_at: StringOrNull({ format: 'date-time', description: 'in the future: the campaign is scheduled to start then' }),
  target_contact_ids: Type.Array(Type.String({ format: 'uuid' }), { maxItems: MAX_TARGET_CONTACTS }),
  target_segment_ids: Type.Array(Type.String({ format: 'uuid' }), { maxItems: MAX_TARGET_SEGMENTS }),
  target_criteria: CriteriaOrNull,
  settings: ObjectOrNull('kept as given (send_time, timezone…)'),
  is_recurring: Type.Boolean(),
  recurring_schedule: ObjectOrNull('kept as given'),
}

/** The body of POST /campaigns/ (the spec's create sample). */
export const CampaignCreateBody = Type.Object({
  name: fields.name,
  description: Type.Optional(fields.description),
  campaign_type: Type.Optional(fields.campaign_type),
  message_text: Type.Optional(fields.message_text),
  template: Type.Optional(fields.template),
  scheduled_at: Type.Optional(fields.scheduled_at),
  target_contact_ids: Type.Optional(fields.target_contact_ids),
  target_segment_ids: Type.Optional(fields.target_segment_ids),
  target_criteria: Type.Optional(fields.target_criteria),
  settings: Type.Optional(fields.settings),
  is_recurring: Type.Optional(fields.is_recurring),
  recurring_schedule: Type.Optional(fields.recurring_schedule),
})
export type CampaignCreateBody = Static<typeof CampaignCreateBody>

/** The body of PUT /campaigns/{id}/: the create body's fields, each optional; a field left out keeps its value. */
export const CampaignUpdateBody = Type.Partial(CampaignCreateBody)
export type CampaignUpdateBody = Static<typeof CampaignUpdateBody>

export const CampaignCreateQuery = Type.Object({
  dry_run: Type.Optional(Type.Boolean({ default: false, description: 'resolve and price the campaign without creating it' })),
})

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
  /** distinct, lowercase, in the order given */
  targetSegmentIds: string[]
  targetCriteria: ContactCriteria | null
  settings: JsonObject
  isRecurring: boolean
  recurringSchedule: JsonObject
}

/** The fields an edit gives; absent ones keep their value. */
export type CampaignChanges = Partial<CampaignInput>

const distinctIds = (ids: readonly string[]): string[] => [...new Set(ids.map((id) => id.toLowerCase()))]

/** `{}` (no condition at all) means no criteria, as null does: it never selects every contact by accident. */
function criteriaFrom(body: ContactCriteriaBody | null): ContactCriteria | null {
  if (body === null || Object.keys(body).length === 0) return null
  return contactCriteriaFrom(body)
}

type Body = CampaignUpdateBody

/** Normalizes the given fields of a validated body; collects the field errors the schema cannot see. */
function changesFrom(body: Body, errors: Record<string, string[]>): CampaignChanges {
  const changes: CampaignChanges = {}
  if (body.name !== undefined) {
    changes.name = body.name.trim()
    if (!changes.name) errors.name = ['This field may not be blank.']
  }
  if (body.description !== undefined) changes.description = body.description?.trim() ?? ''
  if (body.campaign_type !== undefined) changes.campaignType = body.campaign_type
  if (body.message_text !== undefined) {
    changes.messageText = body.message_text
    if (body.message_text !== null && !body.message_text.trim()) errors.message_text = ['This field may not be blank.']
  }
  if (body.template !== undefined) changes.templateId = body.template?.toLowerCase() ?? null
  if (body.scheduled_at !== undefined) changes.scheduledAt = body.scheduled_at === null ? null : new Date(body.scheduled_at).toISOString()
  if (body.target_contact_ids !== undefined) changes.targetContactIds = distinctIds(body.target_contact_ids)
  if (body.target_segment_ids !== undefined) changes.targetSegmentIds = distinctIds(body.target_segment_ids)
  if (body.target_criteria !== undefined) changes.targetCriteria = criteriaFrom(body.target_criteria)
  for (const [field, key] of [
    ['settings', 'settings'],
    ['recurring_schedule', 'recurringSchedule'],
  ] as const) {
    const value = body[field]
    if (value === undefined) continue
    changes[key] = value ?? {}
    if (JSON.stringify(changes[key]).length > MAX_JSON_OBJECT_CHARACTERS) errors[field] = [`Ensure this object has no more than ${MAX_JSON_OBJECT_CHARACTERS} characters of JSON.`]
  }
  if (body.is_recurring !== undefined) changes.isRecurring = body.is_recurring
  return changes
}

/** The create body, normalized; throws the spec's field errors for what the schema cannot see. */
export function campaignInputFrom(body: CampaignCreateBody): CampaignInput {
  const errors: Record<string, string[]> = {}
  const changes = changesFrom(body, errors)
  if (body.message_text == null && body.template == null && !errors.message_text) errors.message_text = ['This field is required unless a template is given.']
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
  return {
    name: changes.name ?? '',
    description: changes.description ?? '',
    campaignType: changes.campaignType ?? 'sms',
    messageText: changes.messageText ?? null,
    templateId: changes.templateId ?? null,
    scheduledAt: changes.scheduledAt ?? null,
    targetContactIds: changes.targetContactIds ?? [],
    targetSegmentIds: changes.targetSegmentIds ?? [],
    targetCriteria: changes.targetCriteria ?? null,
    settings: changes.settings ?? {},
    isRecurring: changes.isRecurring ?? false,
    recurringSchedule: changes.recurringSchedule ?? {},
  }
}

/** The edit body, normalized to the fields it gives. */
export function campaignChangesFrom(body: CampaignUpdateBody): CampaignChanges {
  const errors: Record<string, string[]> = {}
  const changes = changesFrom(body, errors)
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
  return changes
}
