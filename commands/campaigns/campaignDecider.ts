import { BusinessRuleViolation, invalidStatus, NotFound, ValidationFailed } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import type { ContactCriteria } from '../contactCriteria.ts'
import { unreachable, type Decider } from '../decider.ts'
import { billableParts } from '../messages/smsEncoding.ts'
import {
  campaignFacts,
  channelOf,
  RECIPIENT_CHUNK_SIZE,
  type CampaignCost,
  type CampaignEvent,
  type CampaignFacts,
  type CampaignType,
  type JsonObject,
  type Recipient,
  type TargetSegment,
} from './campaignEvents.ts'
import type { CampaignOutcomeCounts } from './campaignPorts.ts'
import { CAMPAIGN_ACTIONS, can, type CampaignAction, type CampaignStatus } from './campaignStatus.ts'

export type { CampaignStatus } from './campaignStatus.ts'

export const STARTABLE_STATUSES = CAMPAIGN_ACTIONS.start.from
export const COMPLETABLE_STATUSES = CAMPAIGN_ACTIONS.complete.from

export interface CampaignOutcome {
  sentCount: number
  deliveredCount: number
  readCount: number
  failedCount: number
  deliveryRate: number
}

export interface ExistingCampaign extends Omit<CampaignFacts, 'totalRecipients'> {
  status: CampaignStatus
  campaignId: string
  tenantId: string
  /** eligible recipients: as resolved for the last definition before the start, as resolved at start after */
  totalRecipients: number
  createdBy: Actor
  createdAt: string
  updatedAt: string
  /** recipients resolved at start (0 before) */
  recipientCount: number
  startedAt: string | null
  startedBy: Actor | null
  pausedAt: string | null
  resumedAt: string | null
  cancelledAt: string | null
  cancelledBy: Actor | null
  completedAt: string | null
  completedBy: Actor | null
  outcome: CampaignOutcome | null
  /** soft-deleted: the campaign answers "not found" from then on */
  deletedAt: string | null
}

export type CampaignState = { status: 'absent' } | ExistingCampaign

/** What the handler learned about the template a campaign names (the decider reads no stream). */
export interface TemplateReference {
  templateId: string
  status: string
  content: string
}

/** Prices per message part, by channel (the service's configuration). */
export interface Pricing {
  currency: string
  perPart: { sms: number; whatsapp: number }
}

/** A campaign's definition as a create or an edit gives it, targets already looked up. */
export interface CampaignDraft {
  name: string
  description: string
  campaignType: CampaignType
  /** null: the template's content is the message */
  messageText: string | null
  templateId: string | null
  /** ISO-8601 in UTC, or null */
  scheduledAt: string | null
  targetContactIds: readonly string[]
  /** the named segments, with their names and criteria as the handler found them */
  targetSegments: readonly TargetSegment[]
  targetCriteria: ContactCriteria | null
  settings: JsonObject
  isRecurring: boolean
  recurringSchedule: JsonObject
}

interface Definition {
  draft: CampaignDraft
  /** the facts of `draft.templateId` when the template must be checked: on create, and on an edit that names another template */
  template: TemplateReference | null
  /** how many eligible recipients the draft's targets resolve to now */
  eligibleRecipients: number
  pricing: Pricing
  now: Date
}

export type CampaignCommand =
  | ({ type: 'createCampaign'; campaignId: string; tenantId: string; createdBy: Actor } & Definition)
  | ({ type: 'updateCampaign'; updatedBy: Actor } & Definition)
  | { type: 'deleteCampaign'; deletedBy: Actor; now: Date }
  | {
      type: 'startCampaign'
      /** the eligible recipients of the targets, resolved by the handler just before deciding */
      recipients: readonly Recipient[]
      pricing: Pricing
      startedBy: Actor
      now: Date
    }
  | { type: 'pauseCampaign'; pausedBy: Actor; now: Date }
  | { type: 'resumeCampaign'; resumedBy: Actor; now: Date }
  | { type: 'cancelCampaign'; cancelledBy: Actor; now: Date }
  | {
      type: 'completeCampaign'
      /** the outcome of the campaign's messages, counted by the handler */
      counts: CampaignOutcomeCounts
      completedBy: Actor
      now: Date
    }

const actorData = (actor: Actor): Actor => ({ userId: actor.userId, name: actor.name })

/** Rounded to cents. */
export const money = (amount: number): number => Math.round(amount * 100) / 100

/** delivered / sent × 100, rounded to one decimal; 0 when nothing was sent */
export function deliveryRate(counts: Pick<CampaignOutcomeCounts, 'sent' | 'delivered'>): number {
  return counts.sent > 0 ? Math.round((counts.delivered / counts.sent) * 1000) / 10 : 0
}

/** recipients × billable parts of one message on the campaign's channel × the price of a part */
export function campaignCost(campaignType: CampaignType, messageText: string, recipients: number, pricing: Pricing): CampaignCost {
  const channel = channelOf(campaignType)
  const parts = billableParts(channel, messageText)
  const pricePerPart = pricing.perPart[channel]
  return { currency: pricing.currency, channel, billableParts: parts, pricePerPart, estimatedCost: money(recipients * parts * pricePerPart) }
}

function distinct(ids: readonly string[]): string[] {
  return [...new Set(ids)]
}

function chunked<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = []
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size))
  return chunks
}

function existing(state: CampaignState): ExistingCampaign {
  if (state.status === 'absent' || state.deletedAt !== null) throw new NotFound('Campaign not found')
  return state
}

/**
 * The campaign, when `action` is allowed in its status; INVALID_STATUS with the allowed statuses
 * otherwise (handlers call it too, to refuse before gathering facts the command would not need).
 */
export function allowed(action: CampaignAction, state: CampaignState): ExistingCampaign {
  const campaign = existing(state)
  const rule = CAMPAIGN_ACTIONS[action]
  if (!can(action, campaign.status)) throw invalidStatus(rule.refusal, campaign.status, rule.from)
  return campaign
}

/** A definition as create and edit record it: resolved and priced. */
type RecordedDefinition = Omit<CampaignFacts, 'totalRecipients' | 'cost'> & { totalRecipients: number; cost: CampaignCost }

/**
 * The facts a create or an edit records: the message (its own text, or the approved template's
 * content), the targets, what they resolve to and cost. Every field error at once.
 * `previousScheduledAt`: a scheduled time that does not change is not checked again.
 */
function definitionFacts(definition: Definition, previousScheduledAt: string | null | undefined): RecordedDefinition {
  const { draft, template, now } = definition
  const errors: Record<string, string[]> = {}
  if (draft.templateId !== null && template !== null) {
    if (template.templateId !== draft.templateId) errors.template = ['Template not found.']
    else if (template.status !== 'approved') errors.template = [`Template must be approved before use (current status: ${template.status}).`]
  }
  const messageText = draft.messageText ?? template?.content ?? null
  if (messageText === null || messageText.trim() === '') errors.message_text = ['This field is required unless a template is given.']
  if (draft.scheduledAt !== null && draft.scheduledAt !== previousScheduledAt && Date.parse(draft.scheduledAt) <= now.getTime()) {
    errors.scheduled_at = ['Scheduled time must be in the future.']
  }
  if (Object.keys(errors).length > 0) throw new ValidationFailed(errors)
  const text = messageText as string
  return {
    name: draft.name,
    description: draft.description,
    campaignType: draft.campaignType,
    messageText: text,
    templateId: draft.templateId,
    scheduledAt: draft.scheduledAt,
    targetContactIds: distinct(draft.targetContactIds),
    targetSegments: draft.targetSegments.map((segment) => ({ segmentId: segment.segmentId, name: segment.name, criteria: segment.criteria })),
    targetCriteria: draft.targetCriteria,
    settings: draft.settings,
    isRecurring: draft.isRecurring,
    recurringSchedule: draft.recurringSchedule,
    totalRecipients: definition.eligibleRecipients,
    cost: campaignCost(draft.campaignType, text, definition.eligibleRecipients, definition.pricing),
  }
}

function createCampaign(command: Extract<CampaignCommand, { type: 'createCampaign' }>, state: CampaignState): CampaignEvent[] {
  if (state.status !== 'absent') throw invalidStatus('Campaign already exists', state.status, ['absent'])
  if (command.draft.templateId !== null && command.template === null) throw new ValidationFailed({ template: ['Template not found.'] })
  const facts = definitionFacts(command, undefined)
  const at = command.now.toISOString()
  const { campaignId, tenantId } = command
  const events: CampaignEvent[] = [{ type: 'campaignCreated', data: { campaignId, tenantId, ...facts, createdBy: actorData(command.createdBy), at } }]
  if (facts.scheduledAt !== null) events.push({ type: 'campaignScheduled', data: { campaignId, tenantId, name: facts.name, scheduledAt: facts.scheduledAt, at } })
  return events
}

/** JSON with object keys sorted at every level: stored events may give keys back in another order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner !== null && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  )
}

const same = (a: unknown, b: unknown): boolean => canonical(a) === canonical(b)

/** The API fields an edit changed, by their snake_case names. */
function changedFields(before: ExistingCampaign, after: RecordedDefinition): string[] {
  const pairs: [string, unknown, unknown][] = [
    ['name', before.name, after.name],
    ['description', before.description, after.description],
    ['campaign_type', before.campaignType, after.campaignType],
    ['message_text', before.messageText, after.messageText],
    ['template', before.templateId, after.templateId],
    ['scheduled_at', before.scheduledAt, after.scheduledAt],
    ['target_contact_ids', before.targetContactIds, after.targetContactIds],
    ['target_segment_ids', before.targetSegments.map((s) => s.segmentId), after.targetSegments.map((s) => s.segmentId)],
    ['target_criteria', before.targetCriteria, after.targetCriteria],
    ['settings', before.settings, after.settings],
    ['is_recurring', before.isRecurring, after.isRecurring],
    ['recurring_schedule', before.recurringSchedule, after.recurringSchedule],
  ]
  return pairs.filter(([, a, b]) => !same(a, b)).map(([field]) => field)
}

/**
 * Edits a draft or scheduled campaign. Records nothing when neither the definition nor what it
 * resolves to changed. Setting or moving the scheduled time schedules it; clearing it makes a
 * scheduled campaign a draft again.
 */
function updateCampaign(command: Extract<CampaignCommand, { type: 'updateCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = allowed('edit', state)
  const facts = definitionFacts(command, campaign.scheduledAt)
  const changed = changedFields(campaign, facts)
  const resolutionMoved =
    !same(campaign.targetSegments, facts.targetSegments) || campaign.totalRecipients !== facts.totalRecipients || !same(campaign.cost, facts.cost)
  if (changed.length === 0 && !resolutionMoved) return []
  const at = command.now.toISOString()
  const { campaignId, tenantId } = campaign
  const events: CampaignEvent[] = [
    { type: 'campaignUpdated', data: { campaignId, tenantId, ...facts, changedFields: changed, updatedBy: actorData(command.updatedBy), at } },
  ]
  if (facts.scheduledAt !== campaign.scheduledAt) {
    if (facts.scheduledAt !== null) events.push({ type: 'campaignScheduled', data: { campaignId, tenantId, name: facts.name, scheduledAt: facts.scheduledAt, at } })
    else if (campaign.status === 'scheduled') events.push({ type: 'campaignUnscheduled', data: { campaignId, tenantId, name: facts.name, at } })
  }
  return events
}

function deleteCampaign(command: Extract<CampaignCommand, { type: 'deleteCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = allowed('delete', state)
  return [
    {
      type: 'campaignDeleted',
      data: { campaignId: campaign.campaignId, tenantId: campaign.tenantId, name: campaign.name, deletedBy: actorData(command.deletedBy), at: command.now.toISOString() },
    },
  ]
}

function startCampaign(command: Extract<CampaignCommand, { type: 'startCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = allowed('start', state)
  const seen = new Set<string>()
  const recipients = command.recipients.filter((recipient) => !seen.has(recipient.contactId) && seen.add(recipient.contactId))
  if (recipients.length === 0) {
    throw new BusinessRuleViolation('Campaign cannot be started', 'NO_RECIPIENTS', {
      target_contact_count: campaign.targetContactIds.length,
      eligible_recipient_count: 0,
    })
  }
  const { campaignId, tenantId, campaignType, messageText } = campaign
  return [
    ...chunked(recipients, RECIPIENT_CHUNK_SIZE).map(
      (chunk, index): CampaignEvent => ({
        type: 'campaignRecipientsAdded',
        data: { campaignId, tenantId, chunk: index, campaignType, messageText, recipients: chunk.map((r) => ({ contactId: r.contactId, phone: r.phone })) },
      }),
    ),
    {
      type: 'campaignStarted',
      data: {
        campaignId,
        tenantId,
        name: campaign.name,
        campaignType,
        recipientCount: recipients.length,
        cost: campaignCost(campaignType, messageText, recipients.length, command.pricing),
        startedBy: actorData(command.startedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

function pauseCampaign(command: Extract<CampaignCommand, { type: 'pauseCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = allowed('pause', state)
  const { campaignId, tenantId, name } = campaign
  return [{ type: 'campaignPaused', data: { campaignId, tenantId, name, pausedBy: actorData(command.pausedBy), at: command.now.toISOString() } }]
}

function resumeCampaign(command: Extract<CampaignCommand, { type: 'resumeCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = allowed('resume', state)
  const { campaignId, tenantId, name } = campaign
  return [{ type: 'campaignResumed', data: { campaignId, tenantId, name, resumedBy: actorData(command.resumedBy), at: command.now.toISOString() } }]
}

function cancelCampaign(command: Extract<CampaignCommand, { type: 'cancelCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = allowed('cancel', state)
  const { campaignId, tenantId, name } = campaign
  return [
    {
      type: 'campaignCancelled',
      data: { campaignId, tenantId, name, previousStatus: campaign.status, cancelledBy: actorData(command.cancelledBy), at: command.now.toISOString() },
    },
  ]
}

function completeCampaign(command: Extract<CampaignCommand, { type: 'completeCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = allowed('complete', state)
  const { counts } = command
  return [
    {
      type: 'campaignCompleted',
      data: {
        campaignId: campaign.campaignId,
        tenantId: campaign.tenantId,
        name: campaign.name,
        recipientCount: campaign.recipientCount,
        sentCount: counts.sent,
        deliveredCount: counts.delivered,
        readCount: counts.read,
        failedCount: counts.failed,
        deliveryRate: deliveryRate(counts),
        completedBy: actorData(command.completedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

export function decide(command: CampaignCommand, state: CampaignState): CampaignEvent[] {
  switch (command.type) {
    case 'createCampaign':
      return createCampaign(command, state)
    case 'updateCampaign':
      return updateCampaign(command, state)
    case 'deleteCampaign':
      return deleteCampaign(command, state)
    case 'startCampaign':
      return startCampaign(command, state)
    case 'pauseCampaign':
      return pauseCampaign(command, state)
    case 'resumeCampaign':
      return resumeCampaign(command, state)
    case 'cancelCampaign':
      return cancelCampaign(command, state)
    case 'completeCampaign':
      return completeCampaign(command, state)
    default:
      return unreachable(command)
  }
}

/** The definition part of the state from campaignCreated / campaignUpdated. */
function definitionOf(facts: CampaignFacts, previousTotal: number): Omit<CampaignFacts, 'totalRecipients'> & { totalRecipients: number } {
  return { ...facts, totalRecipients: facts.totalRecipients ?? previousTotal }
}

export function evolve(state: CampaignState, event: CampaignEvent): CampaignState {
  if (event.type === 'campaignCreated') {
    return {
      status: 'draft',
      campaignId: event.data.campaignId,
      tenantId: event.data.tenantId,
      ...definitionOf(campaignFacts(event.data), 0),
      createdBy: event.data.createdBy,
      createdAt: event.data.at,
      updatedAt: event.data.at,
      recipientCount: 0,
      startedAt: null,
      startedBy: null,
      pausedAt: null,
      resumedAt: null,
      cancelledAt: null,
      cancelledBy: null,
      completedAt: null,
      completedBy: null,
      outcome: null,
      deletedAt: null,
    }
  }
  if (state.status === 'absent') return state
  switch (event.type) {
    case 'campaignUpdated':
      return { ...state, ...definitionOf(campaignFacts(event.data), state.totalRecipients), updatedAt: event.data.at }
    case 'campaignScheduled':
      return { ...state, status: 'scheduled', scheduledAt: event.data.scheduledAt, updatedAt: event.data.at }
    case 'campaignUnscheduled':
      return { ...state, status: 'draft', scheduledAt: null, updatedAt: event.data.at }
    case 'campaignRecipientsAdded':
      // the recipients themselves live in the events, for the sender; the state keeps the count
      return { ...state, recipientCount: state.recipientCount + event.data.recipients.length }
    case 'campaignStarted':
      return {
        ...state,
        status: 'running',
        recipientCount: event.data.recipientCount,
        totalRecipients: event.data.recipientCount,
        cost: event.data.cost ?? state.cost,
        startedAt: event.data.at,
        startedBy: event.data.startedBy,
        updatedAt: event.data.at,
      }
    case 'campaignPaused':
      return { ...state, status: 'paused', pausedAt: event.data.at, updatedAt: event.data.at }
    case 'campaignResumed':
      return { ...state, status: 'running', resumedAt: event.data.at, updatedAt: event.data.at }
    case 'campaignCancelled':
      return { ...state, status: 'cancelled', cancelledAt: event.data.at, cancelledBy: event.data.cancelledBy, updatedAt: event.data.at }
    case 'campaignCompleted':
      return {
        ...state,
        status: 'completed',
        completedAt: event.data.at,
        completedBy: event.data.completedBy,
        outcome: {
          sentCount: event.data.sentCount,
          deliveredCount: event.data.deliveredCount,
          readCount: event.data.readCount,
          failedCount: event.data.failedCount,
          deliveryRate: event.data.deliveryRate,
        },
        updatedAt: event.data.at,
      }
    case 'campaignDeleted':
      return { ...state, deletedAt: event.data.at, updatedAt: event.data.at }
    default:
      return unreachable(event)
  }
}

export const campaignDecider: Decider<CampaignCommand, CampaignEvent, CampaignState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
