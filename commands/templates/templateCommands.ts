import { NotFound } from '../../infra/errors.ts'
import { streamName, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { executeCommand, loadAggregate } from '../commandExecution.ts'
import { isLiveTemplate, templateDecider, type ExistingTemplate, type TemplateCommand, type TemplateState } from './templateDecider.ts'
import type { TemplateInput } from './templateInput.ts'

export const templateStream = (templateId: string): string => streamName('template', templateId)

export interface TemplateDeps {
  store: EventStore
}

export interface TemplateOutcome {
  template: ExistingTemplate
  /** global position of the template's last event after the command */
  position: number
}

export interface DeletedTemplateOutcome {
  templateId: string
  deletedAt: string
  position: number
}

function belongsTo(state: TemplateState, tenantId: string): state is ExistingTemplate {
  return isLiveTemplate(state) && state.tenantId === tenantId
}

function templateOf(state: TemplateState): ExistingTemplate {
  if (!isLiveTemplate(state)) throw new Error(`template state is ${state.status} after a command that keeps it`)
  return state
}

/**
 * The template as it stands now, or null when it does not exist in this tenant (another tenant's
 * template, and a deleted one, are as absent as one that never was). Other aggregates' commands
 * read templates here.
 */
export async function findTenantTemplate(store: EventStore, tenantId: string, templateId: string): Promise<ExistingTemplate | null> {
  const loaded = await loadAggregate(store, templateStream(templateId), templateDecider)
  return belongsTo(loaded.state, tenantId) ? loaded.state : null
}

export async function createTemplate(deps: TemplateDeps, context: CommandContext, input: TemplateInput): Promise<TemplateOutcome> {
  const templateId = newId()
  const outcome = await executeCommand(
    deps.store,
    templateDecider,
    templateStream(templateId),
    (): TemplateCommand => ({ type: 'createTemplate', templateId, tenantId: context.tenantId, ...input, createdBy: context.actor, now: context.now }),
    context,
  )
  return { template: templateOf(outcome.state), position: outcome.position }
}

/** One command on an existing template of the caller's tenant; anything else is "Template not found". */
async function onTemplate(deps: TemplateDeps, context: CommandContext, templateId: string, command: TemplateCommand) {
  return executeCommand(deps.store, templateDecider, templateStream(templateId), (): TemplateCommand => command, context, (state) => {
    if (!belongsTo(state, context.tenantId)) throw new NotFound('Template not found')
  })
}

export async function updateTemplate(deps: TemplateDeps, context: CommandContext, templateId: string, changes: Partial<TemplateInput>): Promise<TemplateOutcome> {
  const outcome = await onTemplate(deps, context, templateId, { type: 'updateTemplate', changes, updatedBy: context.actor, now: context.now })
  return { template: templateOf(outcome.state), position: outcome.position }
}

export async function submitTemplate(deps: TemplateDeps, context: CommandContext, templateId: string): Promise<TemplateOutcome> {
  const outcome = await onTemplate(deps, context, templateId, { type: 'submitTemplate', submittedBy: context.actor, now: context.now })
  return { template: templateOf(outcome.state), position: outcome.position }
}

export async function approveTemplate(deps: TemplateDeps, context: CommandContext, templateId: string): Promise<TemplateOutcome> {
  const outcome = await onTemplate(deps, context, templateId, { type: 'approveTemplate', approvedBy: context.actor, now: context.now })
  return { template: templateOf(outcome.state), position: outcome.position }
}

export async function rejectTemplate(deps: TemplateDeps, context: CommandContext, templateId: string, reason: string): Promise<TemplateOutcome> {
  const outcome = await onTemplate(deps, context, templateId, { type: 'rejectTemplate', reason, rejectedBy: context.actor, now: context.now })
  return { template: templateOf(outcome.state), position: outcome.position }
}

export async function deleteTemplate(deps: TemplateDeps, context: CommandContext, templateId: string): Promise<DeletedTemplateOutcome> {
  const outcome = await onTemplate(deps, context, templateId, { type: 'deleteTemplate', deletedBy: context.actor, now: context.now })
  if (outcome.state.status !== 'deleted') throw new Error(`template state is ${outcome.state.status} after its deletion`)
  return { templateId, deletedAt: outcome.state.deletedAt, position: outcome.position }
}
