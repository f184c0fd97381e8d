import t from 'tap'
import type { Actor } from '../../commands/commandContext.ts'
import { extractVariables, templateDecider, type ExistingTemplate, type TemplateCommand } from '../../commands/templates/templateDecider.ts'
import type { TemplateEvent } from '../../commands/templates/templateEvents.ts'
import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(templateDecider)

const templateId = '7d4c2a52-0c1e-4f7e-9d59-1f2b3c4d5e6f'
const tenantId = '0b7f2d10-5c2d-4a55-8f6e-7a8b9c0d1e2f'
const author: Actor = { userId: 'b1a1f0e2-7d1c-4d2a-9b5e-2c3d4e5f6a7b', name: 'David Ochieng' }
const approver: Actor = { userId: 'c2b2a1f3-8e2d-4e3b-8c6f-3d4e5f6a7b8c', name: 'Amina Juma' }
const createdAt = new Date('2026-03-10T09:00:00Z')
const approvedAt = new Date('2026-03-10T10:30:00Z')

const content = 'Habari {{first_name}}! Karibu {{company}}. {{ first_name }}, your code is {{code}}.'

const create: TemplateCommand = {
  type: 'createTemplate',
  templateId,
  tenantId,
  name: 'Welcome',
  channel: 'whatsapp',
  category: 'Onboarding',
  language: 'sw',
  content,
  createdBy: author,
  now: createdAt,
}

const created: TemplateEvent = {
  type: 'templateCreated',
  data: {
    templateId,
    tenantId,
    name: 'Welcome',
    channel: 'whatsapp',
    category: 'onboarding',
    language: 'sw',
    content,
    variables: ['first_name', 'company', 'code'],
    createdBy: author,
    at: createdAt.toISOString(),
  },
}

function draft(): ExistingTemplate {
  const state = spec.given([created]).state()
  if (state.status === 'absent' || state.status === 'deleted') throw new Error('a created template is live')
  return state
}

const approve: TemplateCommand = { type: 'approveTemplate', approvedBy: approver, now: approvedAt }

const approved: TemplateEvent = {
  type: 'templateApproved',
  data: {
    templateId,
    tenantId,
    name: 'Welcome',
    channel: 'whatsapp',
    category: 'onboarding',
    language: 'sw',
    approvedBy: approver,
    at: approvedAt.toISOString(),
  },
}

t.test('createTemplate', async (t) => {
  t.test('creates a draft with its variables in order of first appearance, once each, and a lowercase category', async (t) => {
    spec.given([]).when(create).then(t, [created])
    t.match(spec.given([created]).state(), {
      status: 'draft',
      templateId,
      tenantId,
      category: 'onboarding',
      variables: ['first_name', 'company', 'code'],
      createdBy: author,
      createdAt: createdAt.toISOString(),
      updatedAt: createdAt.toISOString(),
      approvedAt: null,
      approvedBy: null,
    })
  })

  t.test('is refused when the template already exists', async (t) => {
    spec.given([created]).when(create).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Template already exists',
      fields: { errorCode: 'INVALID_STATUS', details: { current_status: 'draft', allowed_statuses: ['absent'] } },
    })
  })
})

t.test('approveTemplate', async (t) => {
  t.test('approves a draft, naming the approver', async (t) => {
    spec.given([created]).when(approve).then(t, [approved])
    t.match(spec.given([created, approved]).state(), {
      status: 'approved',
      approvedAt: approvedAt.toISOString(),
      approvedBy: approver,
      updatedAt: approvedAt.toISOString(),
      createdAt: createdAt.toISOString(),
    })
  })

  t.test('approves a template pending review', async (t) => {
    // no event leads to `pending` yet: the decision is checked on the state itself
    spec.givenState({ ...draft(), status: 'pending' }).when(approve).then(t, [approved])
  })

  t.test('is refused for an approved template', async (t) => {
    spec.given([created, approved]).when(approve).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Template cannot be approved',
      fields: { errorCode: 'INVALID_STATUS', details: { current_status: 'approved', allowed_statuses: ['draft', 'pending'] }, statusCode: 400 },
    })
  })

  t.test('is refused for a rejected template', async (t) => {
    spec.givenState({ ...draft(), status: 'rejected' }).when(approve).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Template cannot be approved',
      fields: { errorCode: 'INVALID_STATUS', details: { current_status: 'rejected', allowed_statuses: ['draft', 'pending'] } },
    })
  })

  t.test('is refused for a template that does not exist', async (t) => {
    spec.given([]).when(approve).refuses(t, { type: NotFound, message: 'Template not found' })
  })
})

t.test('extractVariables', async (t) => {
  t.same(extractVariables('no variables here'), [])
  t.same(extractVariables('{{a}}{{b}}{{a}}{{ c }}'), ['a', 'b', 'c'])
  t.same(extractVariables('WhatsApp style {{1}} and {{2}}, dotted {{order.id}}'), ['1', '2', 'order.id'])
  t.same(extractVariables('not variables: {{}} {{ two words }} {single} {{{triple}}}'), ['triple'])
})
