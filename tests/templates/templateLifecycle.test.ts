import t from 'tap'
import type { Actor } from '../../commands/commandContext.ts'
import { templateDecider, type ExistingTemplate, type TemplateCommand, type TemplateState } from '../../commands/templates/templateDecider.ts'
import type { TemplateEvent } from '../../commands/templates/templateEvents.ts'
import { templateView } from '../../commands/templates/templateView.ts'
import { BusinessRuleViolation, NotFound, ValidationFailed } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

/** Edits, review (submit, approve, reject) and deletion of templates, as decider specs. */
const spec = deciderSpec(templateDecider)

const templateId = '7d4c2a52-0c1e-4f7e-9d59-1f2b3c4d5e6f'
const tenantId = '0b7f2d10-5c2d-4a55-8f6e-7a8b9c0d1e2f'
const author: Actor = { userId: 'b1a1f0e2-7d1c-4d2a-9b5e-2c3d4e5f6a7b', name: 'David Ochieng' }
const reviewer: Actor = { userId: 'c2b2a1f3-8e2d-4e3b-8c6f-3d4e5f6a7b8c', name: 'Amina Juma' }
const at = (minute: number): string => new Date(Date.UTC(2026, 2, 10, 9, minute)).toISOString()
const now = (minute: number): Date => new Date(at(minute))

const refs = { templateId, tenantId }
const original = { name: 'Welcome', channel: 'whatsapp' as const, category: 'onboarding', language: 'sw', content: 'Habari {{first_name}}!' }

const created: TemplateEvent = {
  type: 'templateCreated',
  data: { ...refs, ...original, variables: ['first_name'], createdBy: author, at: at(0) },
}
const submitted: TemplateEvent = { type: 'templateSubmitted', data: { ...refs, name: 'Welcome', submittedBy: author, at: at(1) } }
const approved: TemplateEvent = {
  type: 'templateApproved',
  data: { ...refs, name: 'Welcome', channel: 'whatsapp', category: 'onboarding', language: 'sw', approvedBy: reviewer, at: at(2) },
}
const rejected: TemplateEvent = {
  type: 'templateRejected',
  data: { ...refs, name: 'Welcome', reason: 'Promotional content in a utility template', rejectedBy: reviewer, at: at(2) },
}
const deleted: TemplateEvent = { type: 'templateDeleted', data: { ...refs, name: 'Welcome', deletedBy: author, at: at(3) } }

const update = (changes: Extract<TemplateCommand, { type: 'updateTemplate' }>['changes'], minute = 5): TemplateCommand => ({
  type: 'updateTemplate',
  changes,
  updatedBy: author,
  now: now(minute),
})
const submit: TemplateCommand = { type: 'submitTemplate', submittedBy: author, now: now(1) }
const approve: TemplateCommand = { type: 'approveTemplate', approvedBy: reviewer, now: now(2) }
const reject = (reason = 'Promotional content in a utility template'): TemplateCommand => ({ type: 'rejectTemplate', reason, rejectedBy: reviewer, now: now(2) })
const remove: TemplateCommand = { type: 'deleteTemplate', deletedBy: author, now: now(3) }

const updated = (data: Partial<Extract<TemplateEvent, { type: 'templateUpdated' }>['data']>): TemplateEvent => ({
  type: 'templateUpdated',
  data: { ...refs, ...original, variables: ['first_name'], status: 'draft', updatedBy: author, at: at(5), ...data },
})

function live(state: TemplateState): ExistingTemplate {
  if (state.status === 'absent' || state.status === 'deleted') throw new Error(`expected a live template, got ${state.status}`)
  return state
}

const invalid = (message: string, current: string, allowed: string[]) => ({
  type: BusinessRuleViolation,
  message,
  fields: { errorCode: 'INVALID_STATUS', statusCode: 400, details: { current_status: current, allowed_statuses: allowed } },
})

t.test('updateTemplate', async (t) => {
  t.test('edits a draft: all its facts after the edit, variables extracted again, still a draft', async (t) => {
    spec
      .given([created])
      .when(update({ content: 'Karibu {{ company }}, {{first_name}}! {{company}}', category: 'Marketing' }))
      .then(t, [updated({ content: 'Karibu {{ company }}, {{first_name}}! {{company}}', category: 'marketing', variables: ['company', 'first_name'] })])
    const state = live(spec.given([created, updated({ name: 'Welcome 2', channel: 'sms', language: 'en' })]).state())
    t.match(state, { status: 'draft', name: 'Welcome 2', channel: 'sms', language: 'en', updatedAt: at(5), createdAt: at(0) })
  })

  t.test('a pending template stays pending', async (t) => {
    spec.given([created, submitted]).when(update({ name: 'Welcome v2' })).then(t, [updated({ name: 'Welcome v2', status: 'pending' })])
    t.equal(live(spec.given([created, submitted, updated({ name: 'Welcome v2', status: 'pending' })]).state()).status, 'pending')
  })

  t.test('a rejected template edited is a draft again, without its rejection', async (t) => {
    spec.given([created, rejected]).when(update({ content: 'Habari {{first_name}}' })).then(t, [updated({ content: 'Habari {{first_name}}', status: 'draft' })])
    const state = live(spec.given([created, rejected, updated({ content: 'Habari {{first_name}}' })]).state())
    t.match(state, { status: 'draft', rejectedAt: null, rejectedBy: null, rejectionReason: null })
  })

  t.test('nothing changed is no event, even for a rejected template', async (t) => {
    spec.given([created]).when(update({ name: 'Welcome', category: 'ONBOARDING' })).then(t, [])
    spec.given([created, rejected]).when(update({ content: original.content })).then(t, [])
  })

  t.test('an approved template is locked', async (t) => {
    spec.given([created, approved]).when(update({ name: 'Other' })).refuses(t, invalid('Template cannot be edited', 'approved', ['draft', 'pending', 'rejected']))
    spec.given([created, approved]).when(update({ name: 'Welcome' })).refuses(t, invalid('Template cannot be edited', 'approved', ['draft', 'pending', 'rejected']))
  })

  t.test('a deleted or unknown template is not found', async (t) => {
    spec.given([created, deleted]).when(update({ name: 'Back' })).refuses(t, { type: NotFound, message: 'Template not found' })
    spec.given([]).when(update({ name: 'Back' })).refuses(t, { type: NotFound, message: 'Template not found' })
  })
})

t.test('submitTemplate', async (t) => {
  t.test('a draft goes to review', async (t) => {
    spec.given([created]).when(submit).then(t, [submitted])
    t.match(live(spec.given([created, submitted]).state()), { status: 'pending', updatedAt: at(1) })
  })

  t.test('only from draft', async (t) => {
    spec.given([created, submitted]).when(submit).refuses(t, invalid('Template cannot be submitted for review', 'pending', ['draft']))
    spec.given([created, approved]).when(submit).refuses(t, invalid('Template cannot be submitted for review', 'approved', ['draft']))
    spec.given([created, rejected]).when(submit).refuses(t, invalid('Template cannot be submitted for review', 'rejected', ['draft']))
    spec.given([created, deleted]).when(submit).refuses(t, { type: NotFound })
  })
})

t.test('approveTemplate', async (t) => {
  t.test('approves a submitted template; its event keeps the shape the activity feed reads', async (t) => {
    spec.given([created, submitted]).when(approve).then(t, [approved])
    t.match(live(spec.given([created, submitted, approved]).state()), { status: 'approved', approvedBy: reviewer, approvedAt: at(2) })
  })

  t.test('not from rejected, approved or deleted', async (t) => {
    spec.given([created, rejected]).when(approve).refuses(t, invalid('Template cannot be approved', 'rejected', ['draft', 'pending']))
    spec.given([created, approved]).when(approve).refuses(t, invalid('Template cannot be approved', 'approved', ['draft', 'pending']))
    spec.given([created, deleted]).when(approve).refuses(t, { type: NotFound, message: 'Template not found' })
  })
})

t.test('rejectTemplate', async (t) => {
  t.test('rejects a draft or a pending template, with the reason and the reviewer', async (t) => {
    spec.given([created]).when(reject()).then(t, [rejected])
    spec.given([created, submitted]).when(reject('  Promotional content in a utility template ')).then(t, [rejected])
    t.match(live(spec.given([created, submitted, rejected]).state()), {
      status: 'rejected',
      rejectedAt: at(2),
      rejectedBy: reviewer,
      rejectionReason: 'Promotional content in a utility template',
      updatedAt: at(2),
    })
  })

  t.test('a blank reason is a field error', async (t) => {
    spec.given([created]).when(reject('   ')).refuses(t, { type: ValidationFailed, fields: { errors: { reason: ['This field may not be blank.'] } } })
  })

  t.test('not from approved or rejected', async (t) => {
    spec.given([created, approved]).when(reject()).refuses(t, invalid('Template cannot be rejected', 'approved', ['draft', 'pending']))
    spec.given([created, rejected]).when(reject()).refuses(t, invalid('Template cannot be rejected', 'rejected', ['draft', 'pending']))
    spec.given([]).when(reject()).refuses(t, { type: NotFound })
  })
})

t.test('deleteTemplate', async (t) => {
  t.test('deletes a template in any status', async (t) => {
    for (const history of [[created], [created, submitted], [created, approved], [created, rejected]]) {
      spec.given(history).when(remove).then(t, [deleted], `deletes from ${live(spec.given(history).state()).status}`)
    }
    t.same(spec.given([created, deleted]).state(), { status: 'deleted', templateId, tenantId, deletedAt: at(3) })
  })

  t.test('a deleted template is not found, and cannot be created again', async (t) => {
    spec.given([created, deleted]).when(remove).refuses(t, { type: NotFound, message: 'Template not found' })
    spec
      .given([created, deleted])
      .when({ type: 'createTemplate', templateId, tenantId, ...original, createdBy: author, now: now(9) })
      .refuses(t, invalid('Template already exists', 'deleted', ['absent']))
  })
})

t.test('templateView shows every field the API documents, names for people', async (t) => {
  const view = templateView(live(spec.given([created, submitted, rejected]).state()))
  t.same(view, {
    id: templateId,
    name: 'Welcome',
    channel: 'whatsapp',
    category: 'onboarding',
    language: 'sw',
    content: 'Habari {{first_name}}!',
    variables: ['first_name'],
    status: 'rejected',
    created_at: at(0),
    updated_at: at(2),
    approved_at: null,
    approved_by: null,
    rejected_at: at(2),
    rejected_by: 'Amina Juma',
    rejection_reason: 'Promotional content in a utility template',
    created_by: 'David Ochieng',
  })
})
