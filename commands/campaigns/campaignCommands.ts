import { NotFound, ValidationFailed } from '../../infra/errors.ts'
import { streamName, type AppendRequest, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { executeCommand, expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry } from '../commandExecution.ts'
import type { ContactCriteria } from '../contactCriteria.ts'
import { fold } from '../decider.ts'
import { creditAppend } from '../billing/smsCredits.ts'
import { findTenantSegment } from '../segments/segmentCommands.ts'
import { findTenantTemplate } from '../templates/templateCommands.ts'
import {
  allowed,
  campaignDecider,
  type CampaignCommand,
  type CampaignDraft,
  type CampaignState,
  type ExistingCampaign,
  type Pricing,
  type TemplateReference,
} from './campaignDecider.ts'
import type { TargetSegment } from './campaignEvents.ts'
import type { CampaignChanges, CampaignInput } from './campaignInput.ts'
import type { CampaignOutcomes, RecipientDirectory, RecipientResolution, RecipientTargets } from './campaignPorts.ts'

export const campaignStream = (campaignId: string): string => streamName('campaign', campaignId)

/** What the campaign commands need: the event store, the read side's facts through the ports, the prices. */
export interface CampaignDeps {
  store: EventStore
  recipients: RecipientDirectory
  outcomes: CampaignOutcomes
  pricing: Pricing
}

export interface CampaignResult {
  campaign: ExistingCampaign
  /** global position of the campaign's last event after the command */
  position: number
}

/** What a dry run answers: the campaign as it would be created, and how its targets resolved. */
export interface CampaignEstimate {
  totalRecipients: number
  estimatedCost: number
  resolution: RecipientResolution
}

function belongsTo(state: CampaignState, tenantId: string): state is ExistingCampaign {
  return state.status !== 'absent' && state.tenantId === tenantId && state.deletedAt === null
}

function campaignOf(state: CampaignState): ExistingCampaign {
  if (state.status === 'absent') throw new Error('campaign state is absent after a command that creates it')
  return state
}

async function templateReference(store: EventStore, tenantId: string, templateId: string | null): Promise<TemplateReference | null> {
  if (templateId === null) return null
  const template = await findTenantTemplate(store, tenantId, templateId)
  if (!template) throw new ValidationFailed({ template: ['Template not found.'] })
  return { templateId: template.templateId, status: template.status, content: template.content }
}

/** The named segments of the tenant, with their names and criteria now; a 400 naming those that do not exist (or were deleted). */
async function namedSegments(store: EventStore, tenantId: string, segmentIds: readonly string[]): Promise<TargetSegment[]> {
  const found = await Promise.all(segmentIds.map((segmentId) => findTenantSegment(store, tenantId, segmentId)))
  const missing = segmentIds.filter((_, index) => found[index] === null)
  if (missing.length > 0) throw new ValidationFailed({ target_segment_ids: missing.map((segmentId) => `Segment not found: ${segmentId}.`) })
  return found.map((segment) => ({ segmentId: segment!.segmentId, name: segment!.name, criteria: segment!.criteria }))
}

/**
 * The segments a campaign already targets, as they are now: a segment edited since targets its
 * current criteria; one deleted since keeps the criteria recorded on the campaign, so deleting a
 * segment never silently shrinks a campaign that was defined with it.
 */
async function currentSegments(store: EventStore, tenantId: string, recorded: readonly TargetSegment[]): Promise<TargetSegment[]> {
  const found = await Promise.all(recorded.map((segment) => findTenantSegment(store, tenantId, segment.segmentId)))
  return recorded.map((segment, index) => {
    const now = found[index]
    return now ? { segmentId: now.segmentId, name: now.name, criteria: now.criteria } : segment
  })
}

/** The targets to resolve: the named contacts, each segment's criteria, and the campaign's own criteria. */
function targetsOf(contactIds: readonly string[], segments: readonly TargetSegment[], criteria: ContactCriteria | null): RecipientTargets {
  return { contactIds, criteria: [...segments.map((segment) => segment.criteria), ...(criteria ? [criteria] : [])] }
}

/** Looks up everything a create needs (template, segments, recipients) and builds the command. */
async function creation(deps: Pick<CampaignDeps, 'store' | 'recipients' | 'pricing'>, context: CommandContext, input: CampaignInput, campaignId: string) {
  const [template, segments] = await Promise.allSettled([
    templateReference(deps.store, context.tenantId, input.templateId),
    namedSegments(deps.store, context.tenantId, input.targetSegmentIds),
  ])
  // the field errors of both lookups in one answer
  const errors: Record<string, string[]> = {}
  for (const lookup of [template, segments]) {
    if (lookup.status === 'fulfilled') continue
    if (!(lookup.reason instanceof ValidationFailed)) throw lookup.reason
    Object.assign(errors, lookup.reason.errors)
  }
  if (template.status === 'rejected' || segments.status === 'rejected') throw new ValidationFailed(errors)
  const resolution = await deps.recipients.resolve(context.tenantId, targetsOf(input.targetContactIds, segments.value, input.targetCriteria))
  const draft: CampaignDraft = { ...input, targetSegments: segments.value }
  const command: CampaignCommand = {
    type: 'createCampaign',
    campaignId,
    tenantId: context.tenantId,
    draft,
    template: template.value,
    eligibleRecipients: resolution.recipients.length,
    pricing: deps.pricing,
    createdBy: context.actor,
    now: context.now,
  }
  return { command, resolution }
}

/** Creates a campaign (scheduled when it has a scheduled time) with its targets resolved and priced now. */
export async function createCampaign(deps: Pick<CampaignDeps, 'store' | 'recipients' | 'pricing'>, context: CommandContext, input: CampaignInput): Promise<CampaignResult> {
  const campaignId = newId()
  // resolved before the append, so a failing read side leaves no half-answered campaign behind
  const { command } = await creation(deps, context, input, campaignId)
  const outcome = await executeCommand(deps.store, campaignDecider, campaignStream(campaignId), () => command, context)
  return { campaign: campaignOf(outcome.state), position: outcome.position }
}

/** The dry run: everything a create checks and computes, decided but never appended. */
export async function estimateCampaign(deps: Pick<CampaignDeps, 'store' | 'recipients' | 'pricing'>, context: CommandContext, input: CampaignInput): Promise<CampaignEstimate> {
  const { command, resolution } = await creation(deps, context, input, newId())
  const events = campaignDecider.decide(command, campaignDecider.initialState)
  const campaign = campaignOf(fold(campaignDecider.evolve, campaignDecider.initialState as CampaignState, events))
  return { totalRecipients: campaign.totalRecipients, estimatedCost: campaign.cost?.estimatedCost ?? 0, resolution }
}

/**
 * One command on an existing campaign of the caller's tenant: load, gather the facts the command
 * needs from the ports (`makeCommand`), decide, append; all again when another writer got there first.
 */
async function runCampaignCommand(
  store: EventStore,
  context: CommandContext,
  campaignId: string,
  makeCommand: (campaign: ExistingCampaign) => CampaignCommand | Promise<CampaignCommand>,
  /** appends to other streams that must land atomically with the campaign's events (credits) */
  alongside: (before: ExistingCampaign, after: ExistingCampaign) => Promise<AppendRequest[]> = async () => [],
): Promise<CampaignResult> {
  const stream = campaignStream(campaignId)
  return withConcurrencyRetry(async () => {
    const loaded = await loadAggregate(store, stream, campaignDecider)
    if (!belongsTo(loaded.state, context.tenantId)) throw new NotFound('Campaign not found')
    const events = campaignDecider.decide(await makeCommand(loaded.state), loaded.state)
    if (events.length === 0) return { campaign: loaded.state, position: loaded.lastPosition }
    const after = campaignOf(fold(campaignDecider.evolve, loaded.state as CampaignState, events))
    const result = await store.append([
      { streamName: stream, expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) },
      ...(await alongside(loaded.state, after)),
    ])
    return { campaign: after, position: result.lastPosition }
  })
}

/** SMS parts a started campaign reserved from the credit ledger: every recipient's message. */
export function reservedParts(campaign: ExistingCampaign): number {
  if (!campaign.cost || campaign.cost.channel !== 'sms') return 0
  return campaign.recipientCount * campaign.cost.billableParts
}

/** Parts reserved but not spent on sent messages, given back when the campaign ends. */
function unspentParts(campaign: ExistingCampaign, sent: number): number {
  if (!campaign.cost || campaign.cost.channel !== 'sms' || campaign.startedAt === null) return 0
  return Math.max(0, reservedParts(campaign) - sent * campaign.cost.billableParts)
}

/**
 * Edits a draft or scheduled campaign: the given fields replace the current ones, the targets are
 * resolved and priced again. A new template brings its content unless a text is given too.
 */
export function updateCampaign(deps: Pick<CampaignDeps, 'store' | 'recipients' | 'pricing'>, context: CommandContext, campaignId: string, changes: CampaignChanges): Promise<CampaignResult> {
  const { store } = deps
  return runCampaignCommand(store, context, campaignId, async (campaign) => {
    allowed('edit', campaign)
    const templateId = changes.templateId !== undefined ? changes.templateId : campaign.templateId
    const newTemplate = templateId !== null && templateId !== campaign.templateId
    const [template, segments] = await Promise.all([
      newTemplate ? templateReference(store, context.tenantId, templateId) : null,
      changes.targetSegmentIds !== undefined
        ? namedSegments(store, context.tenantId, changes.targetSegmentIds)
        : currentSegments(store, context.tenantId, campaign.targetSegments),
    ])
    const draft: CampaignDraft = {
      name: changes.name ?? campaign.name,
      description: changes.description ?? campaign.description,
      campaignType: changes.campaignType ?? campaign.campaignType,
      messageText: changes.messageText !== undefined ? changes.messageText : newTemplate ? null : campaign.messageText,
      templateId,
      scheduledAt: changes.scheduledAt !== undefined ? changes.scheduledAt : campaign.scheduledAt,
      targetContactIds: changes.targetContactIds ?? campaign.targetContactIds,
      targetSegments: segments,
      targetCriteria: changes.targetCriteria !== undefined ? changes.targetCriteria : campaign.targetCriteria,
      settings: changes.settings ?? campaign.settings,
      isRecurring: changes.isRecurring ?? campaign.isRecurring,
      recurringSchedule: changes.recurringSchedule ?? campaign.recurringSchedule,
    }
    const resolution = await deps.recipients.resolve(context.tenantId, targetsOf(draft.targetContactIds, segments, draft.targetCriteria))
    return { type: 'updateCampaign', draft, template, eligibleRecipients: resolution.recipients.length, pricing: deps.pricing, updatedBy: context.actor, now: context.now }
  })
}

/** Soft-deletes a draft. */
export function deleteCampaign(deps: Pick<CampaignDeps, 'store'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(deps.store, context, campaignId, () => ({ type: 'deleteCampaign', deletedBy: context.actor, now: context.now }))
}

/**
 * Resolves the recipients now (named contacts, segments as they are now, criteria) and starts
 * sending to them: recipient chunks + campaignStarted, one append.
 */
export function startCampaign(deps: Pick<CampaignDeps, 'store' | 'recipients' | 'pricing'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(
    deps.store,
    context,
    campaignId,
    async (campaign) => {
      allowed('start', campaign)
      const segments = await currentSegments(deps.store, context.tenantId, campaign.targetSegments)
      const resolution = await deps.recipients.resolve(context.tenantId, targetsOf(campaign.targetContactIds, segments, campaign.targetCriteria))
      return { type: 'startCampaign', recipients: resolution.recipients, pricing: deps.pricing, startedBy: context.actor, now: context.now }
    },
    // every recipient's SMS parts are reserved at start, in the same append: too few credits, no start
    (_before, after) => creditAppend(deps.store, context, { type: 'consume', parts: reservedParts(after), reference: { kind: 'campaign', id: campaignId } }),
  )
}

export function pauseCampaign(deps: Pick<CampaignDeps, 'store'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(deps.store, context, campaignId, () => ({ type: 'pauseCampaign', pausedBy: context.actor, now: context.now }))
}

export function resumeCampaign(deps: Pick<CampaignDeps, 'store'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(deps.store, context, campaignId, () => ({ type: 'resumeCampaign', resumedBy: context.actor, now: context.now }))
}

/**
 * Cancels; what is not sent yet will not be. The parts reserved for unsent messages come back as
 * credits (a send already in flight at this moment may still go out: it is not charged again).
 */
export function cancelCampaign(deps: Pick<CampaignDeps, 'store' | 'outcomes'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(
    deps.store,
    context,
    campaignId,
    () => ({ type: 'cancelCampaign', cancelledBy: context.actor, now: context.now }),
    async (before) => {
      if (before.startedAt === null) return []
      const { sent } = await deps.outcomes.countsFor(context.tenantId, campaignId)
      return creditAppend(deps.store, context, { type: 'release', parts: unspentParts(before, sent), reference: { kind: 'campaign', id: campaignId } })
    },
  )
}

/** Closes a running or paused campaign with its outcome counts; a system process calls this with systemActor too. */
export function completeCampaign(deps: Pick<CampaignDeps, 'store' | 'outcomes'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(
    deps.store,
    context,
    campaignId,
    async (campaign) => {
      allowed('complete', campaign)
      return {
        type: 'completeCampaign',
        counts: await deps.outcomes.countsFor(context.tenantId, campaign.campaignId),
        completedBy: context.actor,
        now: context.now,
      }
    },
    // the parts reserved for messages that were never sent come back as credits
    (before, after) =>
      creditAppend(deps.store, context, { type: 'release', parts: unspentParts(before, after.outcome?.sentCount ?? 0), reference: { kind: 'campaign', id: campaignId } }),
  )
}
