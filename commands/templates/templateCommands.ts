import { NotFound } from '../../infra/errors.ts'
import { streamName, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { executeCommand, loadAggregate } from '../commandExecution.ts'
import { templateDecider, type ExistingTemplate, type TemplateCommand, type TemplateState } from './templateDecider.ts'
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

function belongsTo(state: TemplateState, tenantId: string): state is ExistingTemplate {
  return state.status !== 'absent' && state.tenantId === tenantId
}

function templateOf(state: TemplateState): ExistingTemplate {
  if (state.status === 'absent') throw new Error('template state is absent after a command that creates it')
  return state
}

/**
 * The template as it stands now, or null when it does not exist in this tenant (another tenant's
 * template is as absent as one that never was). Other aggregates' commands read templates here.
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

export async function approveTemplate(deps: TemplateDeps, context: CommandContext, templateId: string): Promise<TemplateOutcome> {
  const outcome = await executeCommand(
    deps.store,
    templateDecider,
    templateStream(templateId),
    (): TemplateCommand => ({ type: 'approveTemplate', approvedBy: context.actor, now: context.now }),
    context,
    (state) => {
      if (!belongsTo(state, context.tenantId)) throw new NotFound('Template not found')
    },
  )
  return { template: templateOf(outcome.state), position: outcome.position }
}
