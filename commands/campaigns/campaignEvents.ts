import { Type, type Static } from 'typebox'
import { ContactCriteria } from '../contactCriteria.ts'
import { ActorData, Channel, NullableString } from '../eventParts.ts'

export const CampaignType = Type.Union([Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('email'), Type.Literal('mixed')])
export type CampaignType = Static<typeof CampaignType>

/** The message channel a campaign type sends on (email and mixed campaigns send SMS for now). */
export const channelOf = (campaignType: CampaignType): 'sms' | 'whatsapp' => (campaignType === 'whatsapp' ? 'whatsapp' : 'sms')

/** A free-form JSON object of the API (`settings`, `recurring_schedule`), kept as given. */
export const JsonObject = Type.Record(Type.String(), Type.Unknown())
export type JsonObject = Static<typeof JsonObject>

/** A segment a campaign targets, with its name and its criteria as they were when recorded. */
export const TargetSegment = Type.Object({ segmentId: Type.String(), name: Type.String(), criteria: ContactCriteria })
export type TargetSegment = Static<typeof TargetSegment>

/**
 * What the campaign's messages cost: each message is `billableParts` parts (SMS by encoding,
 * WhatsApp 1) at `pricePerPart`; `estimatedCost` is that times the recipients, to 2 decimals.
 */
export const CampaignCost = Type.Object({
  currency: Type.String(),
  channel: Channel,
  billableParts: Type.Integer(),
  pricePerPart: Type.Number(),
  estimatedCost: Type.Number(),
})
export type CampaignCost = Static<typeof CampaignCost>

/**
 * The definition a campaign is created or edited with, and what its targets resolved to then.
 * The fields after `targetContactIds` arrived with smart targeting: campaigns recorded before
 * have none of them, and readers fill in the defaults (`campaignFacts`).
 */
const DefinitionFields = {
  name: Type.String(),
  description: Type.String(),
  campaignType: CampaignType,
  messageText: Type.String(),
  templateId: NullableString,
  /** ISO-8601 in UTC; a scheduled campaign starts then */
  scheduledAt: NullableString,
  /** distinct, in the order given */
  targetContactIds: Type.Array(Type.String()),
  targetSegments: Type.Optional(Type.Array(TargetSegment)),
  targetCriteria: Type.Optional(Type.Union([ContactCriteria, Type.Null()])),
  settings: Type.Optional(JsonObject),
  isRecurring: Type.Optional(Type.Boolean()),
  recurringSchedule: Type.Optional(JsonObject),
  /** eligible recipients of the targets when the definition was recorded */
  totalRecipients: Type.Optional(Type.Integer()),
  cost: Type.Optional(CampaignCost),
}

export const CampaignCreated = Type.Object({
  type: Type.Literal('campaignCreated'),
  data: Type.Object({
    campaignId: Type.String(),
    tenantId: Type.String(),
    ...DefinitionFields,
    createdBy: ActorData,
    at: Type.String(),
  }),
})

/** An edit of a draft or scheduled campaign: the whole definition after it, and the API fields it changed. */
export const CampaignUpdated = Type.Object({
  type: Type.Literal('campaignUpdated'),
  data: Type.Object({
    campaignId: Type.String(),
    tenantId: Type.String(),
    ...DefinitionFields,
    changedFields: Type.Array(Type.String()),
    updatedBy: ActorData,
    at: Type.String(),
  }),
})

/**
 * The campaign will start at `scheduledAt` (status scheduled): recorded with campaignCreated or
 * campaignUpdated whenever the scheduled time is set or moved. Whatever starts scheduled
 * campaigns reacts to this event; a stale one is harmless, since only a scheduled campaign starts.
 */
export const CampaignScheduled = Type.Object({
  type: Type.Literal('campaignScheduled'),
  data: Type.Object({ campaignId: Type.String(), tenantId: Type.String(), name: Type.String(), scheduledAt: Type.String(), at: Type.String() }),
})

/** An edit cleared the scheduled time: the campaign is a draft again. */
export const CampaignUnscheduled = Type.Object({
  type: Type.Literal('campaignUnscheduled'),
  data: Type.Object({ campaignId: Type.String(), tenantId: Type.String(), name: Type.String(), at: Type.String() }),
})

/** A recipient as resolved at start: active, opted in, with a phone number. */
export const Recipient = Type.Object({ contactId: Type.String(), phone: Type.String() })
export type Recipient = Static<typeof Recipient>

/**
 * The recipients resolved when the campaign starts, in chunks of at most 1,000 (events stay small
 * on every event store), appended together with campaignStarted. Each chunk carries what sending
 * needs, so the sender reads no other stream.
 */
export const CampaignRecipientsAdded = Type.Object({
  type: Type.Literal('campaignRecipientsAdded'),
  data: Type.Object({
    campaignId: Type.String(),
    tenantId: Type.String(),
    chunk: Type.Integer(),
    campaignType: CampaignType,
    messageText: Type.String(),
    recipients: Type.Array(Recipient),
  }),
})

export const CampaignStarted = Type.Object({
  type: Type.Literal('campaignStarted'),
  data: Type.Object({
    campaignId: Type.String(),
    tenantId: Type.String(),
    name: Type.String(),
    campaignType: CampaignType,
    recipientCount: Type.Integer(),
    /** priced at start, for the recipients resolved then (absent on campaigns started before pricing) */
    cost: Type.Optional(CampaignCost),
    startedBy: ActorData,
    at: Type.String(),
  }),
})

/** Sending stops until the campaign is resumed (the delivery pipeline honours it). */
export const CampaignPaused = Type.Object({
  type: Type.Literal('campaignPaused'),
  data: Type.Object({ campaignId: Type.String(), tenantId: Type.String(), name: Type.String(), pausedBy: ActorData, at: Type.String() }),
})

export const CampaignResumed = Type.Object({
  type: Type.Literal('campaignResumed'),
  data: Type.Object({ campaignId: Type.String(), tenantId: Type.String(), name: Type.String(), resumedBy: ActorData, at: Type.String() }),
})

/** Nothing more is sent; `previousStatus` says whether it had started (running, paused) or not (draft, scheduled). */
export const CampaignCancelled = Type.Object({
  type: Type.Literal('campaignCancelled'),
  data: Type.Object({
    campaignId: Type.String(),
    tenantId: Type.String(),
    name: Type.String(),
    previousStatus: Type.String(),
    cancelledBy: ActorData,
    at: Type.String(),
  }),
})

/** Carries the real outcome counts at completion; `completedBy` is "System" when it completed itself. */
export const CampaignCompleted = Type.Object({
  type: Type.Literal('campaignCompleted'),
  data: Type.Object({
    campaignId: Type.String(),
    tenantId: Type.String(),
    name: Type.String(),
    recipientCount: Type.Integer(),
    sentCount: Type.Integer(),
    deliveredCount: Type.Integer(),
    readCount: Type.Integer(),
    failedCount: Type.Integer(),
    /** delivered / sent × 100, rounded to one decimal; 0 when nothing was sent */
    deliveryRate: Type.Number(),
    completedBy: ActorData,
    at: Type.String(),
  }),
})

/** Soft delete of a draft: the campaign stays in the log; lists and lookups no longer show it. */
export const CampaignDeleted = Type.Object({
  type: Type.Literal('campaignDeleted'),
  data: Type.Object({ campaignId: Type.String(), tenantId: Type.String(), name: Type.String(), deletedBy: ActorData, at: Type.String() }),
})

export const CampaignEvent = Type.Union([
  CampaignCreated,
  CampaignUpdated,
  CampaignScheduled,
  CampaignUnscheduled,
  CampaignRecipientsAdded,
  CampaignStarted,
  CampaignPaused,
  CampaignResumed,
  CampaignCancelled,
  CampaignCompleted,
  CampaignDeleted,
])
export type CampaignEvent = Static<typeof CampaignEvent>
export type CampaignEventType = CampaignEvent['type']

export const RECIPIENT_CHUNK_SIZE = 1000

type DefinitionData = Extract<CampaignEvent, { type: 'campaignCreated' | 'campaignUpdated' }>['data']

/** The definition facts of campaignCreated / campaignUpdated with the defaults of events recorded before smart targeting. */
export interface CampaignFacts {
  name: string
  description: string
  campaignType: CampaignType
  messageText: string
  templateId: string | null
  scheduledAt: string | null
  targetContactIds: string[]
  targetSegments: TargetSegment[]
  targetCriteria: ContactCriteria | null
  settings: JsonObject
  isRecurring: boolean
  recurringSchedule: JsonObject
  /** null when the event predates recording it */
  totalRecipients: number | null
  cost: CampaignCost | null
}

export function campaignFacts(data: DefinitionData): CampaignFacts {
  return {
    name: data.name,
    description: data.description,
    campaignType: data.campaignType,
    messageText: data.messageText,
    templateId: data.templateId,
    scheduledAt: data.scheduledAt,
    targetContactIds: data.targetContactIds,
    targetSegments: data.targetSegments ?? [],
    targetCriteria: data.targetCriteria ?? null,
    settings: data.settings ?? {},
    isRecurring: data.isRecurring ?? false,
    recurringSchedule: data.recurringSchedule ?? {},
    totalRecipients: data.totalRecipients ?? null,
    cost: data.cost ?? null,
  }
}
