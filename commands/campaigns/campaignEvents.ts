import { Type, type Static } from 'typebox'
import { ActorData, NullableString } from '../eventParts.ts'

export const CampaignType = Type.Union([Type.Literal('sms'), Type.Literal('whatsapp'), Type.Literal('email'), Type.Literal('mixed')])
export type CampaignType = Static<typeof CampaignType>

export const CampaignCreated = Type.Object({
  type: Type.Literal('campaignCreated'),
  data: Type.Object({
    campaignId: Type.String(),
    tenantId: Type.String(),
    name: Type.String(),
    description: Type.String(),
    campaignType: CampaignType,
    messageText: Type.String(),
    templateId: NullableString,
    scheduledAt: NullableString,
    targetContactIds: Type.Array(Type.String()),
    createdBy: ActorData,
    at: Type.String(),
  }),
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
    startedBy: ActorData,
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

export const CampaignEvent = Type.Union([CampaignCreated, CampaignRecipientsAdded, CampaignStarted, CampaignCompleted])
export type CampaignEvent = Static<typeof CampaignEvent>

export const RECIPIENT_CHUNK_SIZE = 1000
