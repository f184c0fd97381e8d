import type { Static } from 'typebox'
import { invalidStatus, NotFound, ValidationFailed } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { Channel } from '../eventParts.ts'
import { templateContentOf, type TemplateEvent } from './templateEvents.ts'

export type TemplateChannel = Static<typeof Channel>

/**
 * The life of a template:
 *
 *   draft ──submit──▶ pending ──approve──▶ approved (locked: no more edits)
 *     │ ▲               │
 *     │ └─edit─ rejected ◀──reject── (from draft or pending)
 *     └──────approve / reject────────▶
 *
 * Draft and pending templates can be edited in place (a pending one stays pending); editing a
 * rejected template makes it a draft again. Any template can be deleted (soft delete), after
 * which it is not found.
 */
export type TemplateStatus = 'draft' | 'pending' | 'approved' | 'rejected'

/** The editable facts of a template. */
export interface TemplateContent {
  name: string
  channel: TemplateChannel
  category: string
  language: string
  content: string
}

export interface ExistingTemplate extends TemplateContent {
  status: TemplateStatus
  templateId: string
  tenantId: string
  variables: string[]
  createdBy: Actor
  createdAt: string
  updatedAt: string
  approvedAt: string | null
  approvedBy: Actor | null
  /** set while the template is rejected */
  rejectedAt: string | null
  rejectedBy: Actor | null
  rejectionReason: string | null
}

/** A deleted template: kept only to refuse commands on it (as "not found") and its re-creation. */
export interface DeletedTemplate {
  status: 'deleted'
  templateId: string
  tenantId: string
  deletedAt: string
}

export type TemplateState = { status: 'absent' } | ExistingTemplate | DeletedTemplate

export type TemplateCommand =
  | ({
      type: 'createTemplate'
      templateId: string
      tenantId: string
      createdBy: Actor
      now: Date
    } & TemplateContent)
  | { type: 'updateTemplate'; changes: Partial<TemplateContent>; updatedBy: Actor; now: Date }
  | { type: 'submitTemplate'; submittedBy: Actor; now: Date }
  | { type: 'approveTemplate'; approvedBy: Actor; now: Date }
  | { type: 'rejectTemplate'; reason: string; rejectedBy: Actor; now: Date }
  | { type: 'deleteTemplate'; deletedBy: Actor; now: Date }

/** The statuses a template can be approved from. */
export const APPROVABLE_STATUSES = ['draft', 'pending'] as const satisfies readonly TemplateStatus[]
/** The statuses a template can be rejected from. */
export const REJECTABLE_STATUSES = ['draft', 'pending'] as const satisfies readonly TemplateStatus[]
/** The statuses a template can be submitted for review from. */
export const SUBMITTABLE_STATUSES = ['draft'] as const satisfies readonly TemplateStatus[]
/** The statuses in which a template can be edited: an approved template is locked. */
export const EDITABLE_STATUSES = ['draft', 'pending', 'rejected'] as const satisfies readonly TemplateStatus[]

const VARIABLE = /\{\{\s*([\w.-]+)\s*\}\}/g

/** Names of the `{{variables}}` in a template's content, in order of first appearance, each once. */
export function extractVariables(content: string): string[] {
  const names = new Set<string>()
  for (const match of content.matchAll(VARIABLE)) names.add(match[1]!)
  return [...names]
}

const actorData = (actor: Actor): Actor => ({ userId: actor.userId, name: actor.name })

/** The template as a command finds it; a deleted template is as absent as one that never was. */
export function isLiveTemplate(state: TemplateState): state is ExistingTemplate {
  return state.status !== 'absent' && state.status !== 'deleted'
}

function existing(state: TemplateState): ExistingTemplate {
  if (!isLiveTemplate(state)) throw new NotFound('Template not found')
  return state
}

function mustBeIn(template: ExistingTemplate, allowed: readonly TemplateStatus[], message: string): void {
  if (!allowed.includes(template.status)) throw invalidStatus(message, template.status, allowed)
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

/**
 * Edits a draft, pending or rejected template. Nothing changed is no event; a rejected template
 * that changes becomes a draft again (it has to be submitted anew); a pending one stays pending.
 */
function updateTemplate(command: Extract<TemplateCommand, { type: 'updateTemplate' }>, state: TemplateState): TemplateEvent[] {
  const template = existing(state)
  mustBeIn(template, EDITABLE_STATUSES, 'Template cannot be edited')
  const { changes } = command
  const next: TemplateContent = {
    name: changes.name ?? template.name,
    channel: changes.channel ?? template.channel,
    category: (changes.category ?? template.category).toLowerCase(),
    language: changes.language ?? template.language,
    content: changes.content ?? template.content,
  }
  const unchanged = (Object.keys(next) as (keyof TemplateContent)[]).every((field) => next[field] === template[field])
  if (unchanged) return []
  return [
    {
      type: 'templateUpdated',
      data: {
        templateId: template.templateId,
        tenantId: template.tenantId,
        ...next,
        variables: extractVariables(next.content),
        status: template.status === 'pending' ? 'pending' : 'draft',
        updatedBy: actorData(command.updatedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

function submitTemplate(command: Extract<TemplateCommand, { type: 'submitTemplate' }>, state: TemplateState): TemplateEvent[] {
  const template = existing(state)
  mustBeIn(template, SUBMITTABLE_STATUSES, 'Template cannot be submitted for review')
  return [
    {
      type: 'templateSubmitted',
      data: { templateId: template.templateId, tenantId: template.tenantId, name: template.name, submittedBy: actorData(command.submittedBy), at: command.now.toISOString() },
    },
  ]
}

function approveTemplate(command: Extract<TemplateCommand, { type: 'approveTemplate' }>, state: TemplateState): TemplateEvent[] {
  const template = existing(state)
  mustBeIn(template, APPROVABLE_STATUSES, 'Template cannot be approved')
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

function rejectTemplate(command: Extract<TemplateCommand, { type: 'rejectTemplate' }>, state: TemplateState): TemplateEvent[] {
  const template = existing(state)
  const reason = command.reason.trim()
  if (!reason) throw ValidationFailed.field('reason', 'This field may not be blank.')
  mustBeIn(template, REJECTABLE_STATUSES, 'Template cannot be rejected')
  return [
    {
      type: 'templateRejected',
      data: {
        templateId: template.templateId,
        tenantId: template.tenantId,
        name: template.name,
        reason,
        rejectedBy: actorData(command.rejectedBy),
        at: command.now.toISOString(),
      },
    },
  ]
}

function deleteTemplate(command: Extract<TemplateCommand, { type: 'deleteTemplate' }>, state: TemplateState): TemplateEvent[] {
  const template = existing(state)
  return [
    {
      type: 'templateDeleted',
      data: { templateId: template.templateId, tenantId: template.tenantId, name: template.name, deletedBy: actorData(command.deletedBy), at: command.now.toISOString() },
    },
  ]
}

export function decide(command: TemplateCommand, state: TemplateState): TemplateEvent[] {
  switch (command.type) {
    case 'createTemplate':
      return createTemplate(command, state)
    case 'updateTemplate':
      return updateTemplate(command, state)
    case 'submitTemplate':
      return submitTemplate(command, state)
    case 'approveTemplate':
      return approveTemplate(command, state)
    case 'rejectTemplate':
      return rejectTemplate(command, state)
    case 'deleteTemplate':
      return deleteTemplate(command, state)
    default:
      return unreachable(command)
  }
}

const noRejection = { rejectedAt: null, rejectedBy: null, rejectionReason: null }

function whenLive(state: TemplateState, change: (template: ExistingTemplate) => TemplateState): TemplateState {
  return isLiveTemplate(state) ? change(state) : state
}

export function evolve(state: TemplateState, event: TemplateEvent): TemplateState {
  switch (event.type) {
    case 'templateCreated':
      return {
        status: 'draft',
        templateId: event.data.templateId,
        tenantId: event.data.tenantId,
        ...templateContentOf(event.data),
        createdBy: event.data.createdBy,
        createdAt: event.data.at,
        updatedAt: event.data.at,
        approvedAt: null,
        approvedBy: null,
        ...noRejection,
      }
    case 'templateUpdated': {
      const { data } = event
      return whenLive(state, (template) => ({
        ...template,
        ...templateContentOf(data),
        status: data.status,
        updatedAt: data.at,
        ...noRejection,
      }))
    }
    case 'templateSubmitted':
      return whenLive(state, (template) => ({ ...template, status: 'pending', updatedAt: event.data.at }))
    case 'templateApproved':
      return whenLive(state, (template) => ({ ...template, status: 'approved', approvedAt: event.data.at, approvedBy: event.data.approvedBy, updatedAt: event.data.at }))
    case 'templateRejected':
      return whenLive(state, (template) => ({
        ...template,
        status: 'rejected',
        rejectedAt: event.data.at,
        rejectedBy: event.data.rejectedBy,
        rejectionReason: event.data.reason,
        updatedAt: event.data.at,
      }))
    case 'templateDeleted':
      return { status: 'deleted', templateId: event.data.templateId, tenantId: event.data.tenantId, deletedAt: event.data.at }
    default:
      return unreachable(event)
  }
}

export const templateDecider: Decider<TemplateCommand, TemplateEvent, TemplateState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
