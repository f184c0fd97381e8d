import { BusinessRuleViolation, invalidStatus, NotFound, ValidationFailed } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import { RECIPIENT_CHUNK_SIZE, type CampaignEvent, type CampaignType, type Recipient } from './campaignEvents.ts'
import type { CampaignOutcomeCounts } from './campaignPorts.ts'

/**
 * Every status a campaign knows. Today's events reach `draft`, `running` and `completed`;
 * `scheduled`, `paused`, `cancelled` and `failed` arrive with their commands, and the transition
 * rules below already name them where the spec does.
 */
export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled' | 'failed'
export type ReachableCampaignStatus = Extract<CampaignStatus, 'draft' | 'running' | 'completed'>

export const STARTABLE_STATUSES = ['draft', 'scheduled'] as const satisfies readonly CampaignStatus[]
export const COMPLETABLE_STATUSES = ['running', 'paused'] as const satisfies readonly CampaignStatus[]

export interface CampaignOutcome {
  sentCount: number
  deliveredCount: number
  readCount: number
  failedCount: number
  deliveryRate: number
}

export interface ExistingCampaign {
  status: ReachableCampaignStatus
  campaignId: string
  tenantId: string
  name: string
  description: string
  campaignType: CampaignType
  messageText: string
  templateId: string | null
  scheduledAt: string | null
  /** distinct, in the order given */
  targetContactIds: string[]
  createdBy: Actor
  createdAt: string
  updatedAt: string
  /** recipients resolved at start (0 before) */
  recipientCount: number
  startedAt: string | null
  startedBy: Actor | null
  completedAt: string | null
  completedBy: Actor | null
  outcome: CampaignOutcome | null
}

export type CampaignState = { status: 'absent' } | ExistingCampaign

/** What the handler learned about the template a campaign names (the decider reads no stream). */
export interface TemplateReference {
  templateId: string
  status: string
  content: string
}

export type CampaignCommand =
  | {
      type: 'createCampaign'
      campaignId: string
      tenantId: string
      name: string
      description: string
      campaignType: CampaignType
      /** null: the template's content is the message */
      messageText: string | null
      template: TemplateReference | null
      scheduledAt: string | null
      targetContactIds: readonly string[]
      createdBy: Actor
      now: Date
    }
  | {
      type: 'startCampaign'
      /** the eligible recipients among the targets, resolved by the handler just before deciding */
      recipients: readonly Recipient[]
      startedBy: Actor
      now: Date
    }
  | {
      type: 'completeCampaign'
      /** the outcome of the campaign's messages, counted by the handler */
      counts: CampaignOutcomeCounts
      completedBy: Actor
      now: Date
    }

const actorData = (actor: Actor): Actor => ({ userId: actor.userId, name: actor.name })

/** delivered / sent × 100, rounded to one decimal; 0 when nothing was sent */
export function deliveryRate(counts: Pick<CampaignOutcomeCounts, 'sent' | 'delivered'>): number {
  return counts.sent > 0 ? Math.round((counts.delivered / counts.sent) * 1000) / 10 : 0
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
  if (state.status === 'absent') throw new NotFound('Campaign not found')
  return state
}

function createCampaign(command: Extract<CampaignCommand, { type: 'createCampaign' }>, state: CampaignState): CampaignEvent[] {
  if (state.status !== 'absent') throw invalidStatus('Campaign already exists', state.status, ['absent'])
  const { template } = command
  if (template && template.status !== 'approved') {
    throw new ValidationFailed({ template: [`Template must be approved before use (current status: ${template.status}).`] })
  }
  const messageText = command.messageText ?? template?.content ?? null
  if (messageText === null || messageText.trim() === '') {
    throw new ValidationFailed({ message_text: ['This field is required unless a template is given.'] })
  }
  return [
    {
      type: 'campaignCreated',
      data: {
        campaignId: command.campaignId,
        tenantId: command.tenantId,
        name: command.name,
        description: command.description,
        campaignType: command.campaignType,
        messageText,
        templateId: template?.templateId ?? null,
        scheduledAt: command.scheduledAt,
        targetContactIds: distinct(command.targetContactIds),
        createdBy: actorData(command.createdBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

function startCampaign(command: Extract<CampaignCommand, { type: 'startCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = existing(state)
  if (!(STARTABLE_STATUSES as readonly CampaignStatus[]).includes(campaign.status)) {
    throw invalidStatus('Campaign cannot be started', campaign.status, STARTABLE_STATUSES)
  }
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
        startedBy: actorData(command.startedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

function completeCampaign(command: Extract<CampaignCommand, { type: 'completeCampaign' }>, state: CampaignState): CampaignEvent[] {
  const campaign = existing(state)
  if (!(COMPLETABLE_STATUSES as readonly CampaignStatus[]).includes(campaign.status)) {
    throw invalidStatus('Campaign cannot be completed', campaign.status, COMPLETABLE_STATUSES)
  }
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
    case 'startCampaign':
      return startCampaign(command, state)
    case 'completeCampaign':
      return completeCampaign(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: CampaignState, event: CampaignEvent): CampaignState {
  switch (event.type) {
    case 'campaignCreated':
      return {
        status: 'draft',
        campaignId: event.data.campaignId,
        tenantId: event.data.tenantId,
        name: event.data.name,
        description: event.data.description,
        campaignType: event.data.campaignType,
        messageText: event.data.messageText,
        templateId: event.data.templateId,
        scheduledAt: event.data.scheduledAt,
        targetContactIds: event.data.targetContactIds,
        createdBy: event.data.createdBy,
        createdAt: event.data.at,
        updatedAt: event.data.at,
        recipientCount: 0,
        startedAt: null,
        startedBy: null,
        completedAt: null,
        completedBy: null,
        outcome: null,
      }
    case 'campaignRecipientsAdded':
      // the recipients themselves live in the events, for the sender; the state keeps the count
      return state.status === 'absent' ? state : { ...state, recipientCount: state.recipientCount + event.data.recipients.length }
    case 'campaignStarted':
      return state.status === 'absent'
        ? state
        : {
            ...state,
            status: 'running',
            recipientCount: event.data.recipientCount,
            startedAt: event.data.at,
            startedBy: event.data.startedBy,
            updatedAt: event.data.at,
          }
    case 'campaignCompleted':
      return state.status === 'absent'
        ? state
        : {
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
    default:
      return unreachable(event)
  }
}

export const campaignDecider: Decider<CampaignCommand, CampaignEvent, CampaignState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
