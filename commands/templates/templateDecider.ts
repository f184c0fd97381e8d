import type { Static } from 'typebox'
import { invalidStatus, NotFound } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { Channel } from '../eventParts.ts'
import type { TemplateEvent } from './templateEvents.ts'

export type TemplateChannel = Static<typeof Channel>

/**
 * The life of a template. Only `draft` (on creation) and `approved` are reachable today;
 * `pending` (submitted to the channel for review) and `rejected` come with the review flow.
 */
export type TemplateStatus = 'draft' | 'pending' | 'approved' | 'rejected'

export interface ExistingTemplate {
  status: TemplateStatus
  templateId: string
  tenantId: string
  name: string
  channel: TemplateChannel
  category: string
  language: string
  content: string
  variables: string[]
  createdBy: Actor
  createdAt: string
  updatedAt: string
  approvedAt: string | null
  approvedBy: Actor | null
}

export type TemplateState = { status: 'absent' } | ExistingTemplate

export type TemplateCommand =
  | {
      type: 'createTemplate'
      templateId: string
      tenantId: string
      name: string
      channel: TemplateChannel
      category: string
      language: string
      content: string
      createdBy: Actor
      now: Date
    }
  | { type: 'approveTemplate'; approvedBy: Actor; now: Date }

/** The statuses a template can be approved from. */
export const APPROVABLE_STATUSES = ['draft', 'pending'] as const satisfies readonly TemplateStatus[]

const VARIABLE = /\{\{\s*([\w.-]+)\s*\}\}/g

/** Names of the `{{variables}}` in a template's content, in order of first appearance, each once. */
export function extractVariables(content: string): string[] {
  const names = new Set<string>()
  for (const match of content.matchAll(VARIABLE)) names.add(match[1]!)
  return [...names]
}

const actorData = (actor: Actor): Actor => ({ userId: actor.userId, name: actor.name })

function existing(state: TemplateState): ExistingTemplate {
  if (state.status === 'absent') throw new NotFound('Template not found')
  return state
}

function createTemplate(command: Extract<TemplateCommand, { type: 'createTemplate' }>, state: TemplateState): TemplateEvent[] {
  if (state.status !== 'absent') throw invalidStatus('Template already exists', state.status, ['absent'])
  return [
    {
      type: 'templateCreated',
      data: {
        templateId: command.templateId,
        tenantId: command.tenantId,
        name: command.name,
        channel: command.channel,
        category: command.category.toLowerCase(),
        language: command.language,
        content: command.content,
        variables: extractVariables(command.content),
        createdBy: actorData(command.createdBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

function approveTemplate(command: Extract<TemplateCommand, { type: 'approveTemplate' }>, state: TemplateState): TemplateEvent[] {
  const template = existing(state)
  if (!(APPROVABLE_STATUSES as readonly TemplateStatus[]).includes(template.status)) {
    throw invalidStatus('Template cannot be approved', template.status, APPROVABLE_STATUSES)
  }
  return [
    {
      type: 'templateApproved',
      data: {
        templateId: template.templateId,
        tenantId: template.tenantId,
        name: template.name,
        channel: template.channel,
        category: template.category,
        language: template.language,
        approvedBy: actorData(command.approvedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

export function decide(command: TemplateCommand, state: TemplateState): TemplateEvent[] {
  switch (command.type) {
    case 'createTemplate':
      return createTemplate(command, state)
    case 'approveTemplate':
      return approveTemplate(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: TemplateState, event: TemplateEvent): TemplateState {
  switch (event.type) {
    case 'templateCreated':
      return {
        status: 'draft',
        templateId: event.data.templateId,
        tenantId: event.data.tenantId,
        name: event.data.name,
        channel: event.data.channel,
        category: event.data.category,
        language: event.data.language,
        content: event.data.content,
        variables: event.data.variables,
        createdBy: event.data.createdBy,
        createdAt: event.data.at,
        updatedAt: event.data.at,
        approvedAt: null,
        approvedBy: null,
      }
    case 'templateApproved':
      return state.status === 'absent'
        ? state
        : { ...state, status: 'approved', approvedAt: event.data.at, approvedBy: event.data.approvedBy, updatedAt: event.data.at }
    default:
      return unreachable(event)
  }
}

export const templateDecider: Decider<TemplateCommand, TemplateEvent, TemplateState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
