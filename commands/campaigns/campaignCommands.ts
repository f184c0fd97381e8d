import { NotFound, ValidationFailed } from '../../infra/errors.ts'
import { streamName, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { executeCommand, expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { findTenantTemplate } from '../templates/templateCommands.ts'
import { campaignDecider, type CampaignCommand, type CampaignState, type ExistingCampaign, type TemplateReference } from './campaignDecider.ts'
import type { CampaignInput } from './campaignInput.ts'
import type { CampaignOutcomes, RecipientDirectory } from './campaignPorts.ts'

export const campaignStream = (campaignId: string): string => streamName('campaign', campaignId)

/** What the campaign commands need: the event store, and the read side's facts through the ports. */
export interface CampaignDeps {
  store: EventStore
  recipients: RecipientDirectory
  outcomes: CampaignOutcomes
}

export interface CampaignResult {
  campaign: ExistingCampaign
  /** global position of the campaign's last event after the command */
  position: number
}

export interface CreatedCampaign extends CampaignResult {
  /** how many of the targets are eligible recipients right now */
  totalRecipients: number
}

function belongsTo(state: CampaignState, tenantId: string): state is ExistingCampaign {
  return state.status !== 'absent' && state.tenantId === tenantId
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

export async function createCampaign(
  deps: Pick<CampaignDeps, 'store' | 'recipients'>,
  context: CommandContext,
  input: CampaignInput,
): Promise<CreatedCampaign> {
  const template = await templateReference(deps.store, context.tenantId, input.templateId)
  // counted before the append, so a failing read side leaves no half-answered campaign behind
  const eligible = input.targetContactIds.length > 0 ? await deps.recipients.eligibleRecipients(context.tenantId, input.targetContactIds) : []
  const campaignId = newId()
  const outcome = await executeCommand(
    deps.store,
    campaignDecider,
    campaignStream(campaignId),
    (): CampaignCommand => ({
      type: 'createCampaign',
      campaignId,
      tenantId: context.tenantId,
      name: input.name,
      description: input.description,
      campaignType: input.campaignType,
      messageText: input.messageText,
      template,
      scheduledAt: input.scheduledAt,
      targetContactIds: input.targetContactIds,
      createdBy: context.actor,
      now: context.now,
    }),
    context,
  )
  return { campaign: campaignOf(outcome.state), position: outcome.position, totalRecipients: eligible.length }
}

/**
 * One command on an existing campaign of the caller's tenant: load, gather the facts the command
 * needs from the ports (`makeCommand`), decide, append; all again when another writer got there first.
 */
async function runCampaignCommand(
  store: EventStore,
  context: CommandContext,
  campaignId: string,
  makeCommand: (campaign: ExistingCampaign) => Promise<CampaignCommand>,
): Promise<CampaignResult> {
  const stream = campaignStream(campaignId)
  return withConcurrencyRetry(async () => {
    const loaded = await loadAggregate(store, stream, campaignDecider)
    if (!belongsTo(loaded.state, context.tenantId)) throw new NotFound('Campaign not found')
    const events = campaignDecider.decide(await makeCommand(loaded.state), loaded.state)
    if (events.length === 0) return { campaign: loaded.state, position: loaded.lastPosition }
    const result = await store.append([{ streamName: stream, expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) }])
    return { campaign: campaignOf(fold(campaignDecider.evolve, loaded.state as CampaignState, events)), position: result.lastPosition }
  })
}

/** Resolves the eligible recipients now and starts sending to them (recipient chunks + campaignStarted, one append). */
export function startCampaign(deps: Pick<CampaignDeps, 'store' | 'recipients'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(deps.store, context, campaignId, async (campaign) => ({
    type: 'startCampaign',
    recipients: await deps.recipients.eligibleRecipients(context.tenantId, campaign.targetContactIds),
    startedBy: context.actor,
    now: context.now,
  }))
}

/** Closes a running campaign with its outcome counts; a system process calls this with systemActor too. */
export function completeCampaign(deps: Pick<CampaignDeps, 'store' | 'outcomes'>, context: CommandContext, campaignId: string): Promise<CampaignResult> {
  return runCampaignCommand(deps.store, context, campaignId, async (campaign) => ({
    type: 'completeCampaign',
    counts: await deps.outcomes.countsFor(context.tenantId, campaign.campaignId),
    completedBy: context.actor,
    now: context.now,
  }))
}
