import t from 'tap'
import { campaignDecider, deliveryRate, type CampaignCommand, type ExistingCampaign } from '../../commands/campaigns/campaignDecider.ts'
import { RECIPIENT_CHUNK_SIZE, type CampaignEvent, type Recipient } from '../../commands/campaigns/campaignEvents.ts'
import { systemActor, type Actor } from '../../commands/commandContext.ts'
import { BusinessRuleViolation, NotFound, ValidationFailed } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(campaignDecider)

const campaignId = '5e0c3b1a-2d4f-4a6b-8c9d-0e1f2a3b4c5d'
const tenantId = '0b7f2d10-5c2d-4a55-8f6e-7a8b9c0d1e2f'
const templateId = '7d4c2a52-0c1e-4f7e-9d59-1f2b3c4d5e6f'
const author: Actor = { userId: 'b1a1f0e2-7d1c-4d2a-9b5e-2c3d4e5f6a7b', name: 'David Ochieng' }
const starter: Actor = { userId: 'c2b2a1f3-8e2d-4e3b-8c6f-3d4e5f6a7b8c', name: 'Amina Juma' }
const createdAt = new Date('2026-03-10T09:00:00Z')
const startedAt = new Date('2026-03-10T10:00:00Z')
const completedAt = new Date('2026-03-10T12:00:00Z')

const contactIds = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333']
const messageText = 'Happy New Year! Get 30% off on your first order. Use code NEWYEAR30'

const create: Extract<CampaignCommand, { type: 'createCampaign' }> = {
  type: 'createCampaign',
  campaignId,
  tenantId,
  name: 'New Year Promotion',
  description: 'Welcome the new year with our special offers',
  campaignType: 'sms',
  messageText,
  template: null,
  scheduledAt: '2027-01-01T09:00:00.000Z',
  targetContactIds: [contactIds[0]!, contactIds[1]!, contactIds[0]!, contactIds[2]!],
  createdBy: author,
  now: createdAt,
}

const created: CampaignEvent = {
  type: 'campaignCreated',
  data: {
    campaignId,
    tenantId,
    name: 'New Year Promotion',
    description: 'Welcome the new year with our special offers',
    campaignType: 'sms',
    messageText,
    templateId: null,
    scheduledAt: '2027-01-01T09:00:00.000Z',
    targetContactIds: contactIds,
    createdBy: author,
    at: createdAt.toISOString(),
  },
}

const recipientsOf = (count: number): Recipient[] =>
  Array.from({ length: count }, (_, n) => ({ contactId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, phone: `+2557${String(n).padStart(8, '0')}` }))

const startWith = (recipients: Recipient[]): CampaignCommand => ({ type: 'startCampaign', recipients, startedBy: starter, now: startedAt })

const recipientsAdded = (chunk: number, recipients: Recipient[]): CampaignEvent => ({
  type: 'campaignRecipientsAdded',
  data: { campaignId, tenantId, chunk, campaignType: 'sms', messageText, recipients },
})

const started = (recipientCount: number): CampaignEvent => ({
  type: 'campaignStarted',
  data: { campaignId, tenantId, name: 'New Year Promotion', campaignType: 'sms', recipientCount, startedBy: starter, at: startedAt.toISOString() },
})

const threeRecipients = recipientsOf(3)
/** a campaign started with three recipients */
const runningHistory: CampaignEvent[] = [created, recipientsAdded(0, threeRecipients), started(3)]

const counts = { sent: 3, delivered: 2, read: 1, failed: 1 }
const complete = (by: Actor = author, outcome = counts): CampaignCommand => ({ type: 'completeCampaign', counts: outcome, completedBy: by, now: completedAt })

const completed: CampaignEvent = {
  type: 'campaignCompleted',
  data: {
    campaignId,
    tenantId,
    name: 'New Year Promotion',
    recipientCount: 3,
    sentCount: 3,
    deliveredCount: 2,
    readCount: 1,
    failedCount: 1,
    deliveryRate: 66.7,
    completedBy: author,
    at: completedAt.toISOString(),
  },
}

function existingAfter(history: CampaignEvent[]): ExistingCampaign {
  const state = spec.given(history).state()
  if (state.status === 'absent') throw new Error('expected an existing campaign')
  return state
}

t.test('createCampaign', async (t) => {
  t.test('creates a draft with distinct targets in the order given', async (t) => {
    spec.given([]).when(create).then(t, [created])
    t.match(existingAfter([created]), {
      status: 'draft',
      campaignId,
      tenantId,
      messageText,
      targetContactIds: contactIds,
      scheduledAt: '2027-01-01T09:00:00.000Z',
      recipientCount: 0,
      startedAt: null,
      completedAt: null,
      outcome: null,
      createdAt: createdAt.toISOString(),
    })
  })

  t.test('takes the message from an approved template when no text is given', async (t) => {
    const template = { templateId, status: 'approved', content: 'Habari {{first_name}}, karibu!' }
    spec.given([]).when({ ...create, messageText: null, template }).then(t, [
      { type: 'campaignCreated', data: { ...created.data, messageText: 'Habari {{first_name}}, karibu!', templateId } } as CampaignEvent,
    ])
  })

  t.test('keeps its own text when both a text and an approved template are given', async (t) => {
    const template = { templateId, status: 'approved', content: 'Template text' }
    spec.given([]).when({ ...create, template }).then(t, [{ type: 'campaignCreated', data: { ...created.data, templateId } } as CampaignEvent])
  })

  t.test('may target nobody yet', async (t) => {
    spec.given([]).when({ ...create, targetContactIds: [], scheduledAt: null }).then(t, [
      { type: 'campaignCreated', data: { ...created.data, targetContactIds: [], scheduledAt: null } } as CampaignEvent,
    ])
  })

  t.test('is refused when the campaign already exists', async (t) => {
    spec.given([created]).when(create).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Campaign already exists',
      fields: { errorCode: 'INVALID_STATUS', details: { current_status: 'draft', allowed_statuses: ['absent'] } },
    })
  })

  t.test('is refused with a template that is not approved', async (t) => {
    spec.given([]).when({ ...create, template: { templateId, status: 'draft', content: 'Draft text' } }).refuses(t, {
      type: ValidationFailed,
      message: 'Validation failed',
      fields: { errors: { template: ['Template must be approved before use (current status: draft).'] } },
    })
  })

  t.test('is refused without a text and without a template', async (t) => {
    for (const text of [null, '', '   ']) {
      spec.given([]).when({ ...create, messageText: text }).refuses(t, {
        type: ValidationFailed,
        fields: { errors: { message_text: ['This field is required unless a template is given.'] } },
      })
    }
  })
})

t.test('startCampaign', async (t) => {
  t.test('adds the recipients and starts a draft', async (t) => {
    spec.given([created]).when(startWith(threeRecipients)).then(t, runningHistory.slice(1))
    t.match(existingAfter(runningHistory), {
      status: 'running',
      recipientCount: 3,
      startedAt: startedAt.toISOString(),
      startedBy: starter,
      updatedAt: startedAt.toISOString(),
    })
  })

  t.test(`adds recipients in chunks of at most ${RECIPIENT_CHUNK_SIZE}, numbered from 0, before campaignStarted`, async (t) => {
    const many = recipientsOf(2 * RECIPIENT_CHUNK_SIZE + 1)
    spec.given([created]).when(startWith(many)).then(t, [
      recipientsAdded(0, many.slice(0, RECIPIENT_CHUNK_SIZE)),
      recipientsAdded(1, many.slice(RECIPIENT_CHUNK_SIZE, 2 * RECIPIENT_CHUNK_SIZE)),
      recipientsAdded(2, many.slice(2 * RECIPIENT_CHUNK_SIZE)),
      started(many.length),
    ])
    const exactly = recipientsOf(RECIPIENT_CHUNK_SIZE)
    spec.given([created]).when(startWith(exactly)).then(t, [recipientsAdded(0, exactly), started(RECIPIENT_CHUNK_SIZE)], 'a full chunk is one chunk')
  })

  t.test('counts a recipient given twice once', async (t) => {
    spec.given([created]).when(startWith([...threeRecipients, threeRecipients[0]!])).then(t, runningHistory.slice(1))
  })

  t.test('starts a scheduled campaign', async (t) => {
    // no event leads to `scheduled` yet: the rule is checked on the state itself
    const scheduled = { ...existingAfter([created]), status: 'scheduled' } as unknown as ExistingCampaign
    spec.givenState(scheduled).when(startWith(threeRecipients)).then(t, runningHistory.slice(1))
  })

  t.test('is refused when no target is an eligible recipient', async (t) => {
    spec.given([created]).when(startWith([])).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Campaign cannot be started',
      fields: { errorCode: 'NO_RECIPIENTS', details: { target_contact_count: 3, eligible_recipient_count: 0 }, statusCode: 400 },
    })
  })

  for (const [status, history] of [
    ['running', runningHistory],
    ['completed', [...runningHistory, completed]],
  ] as const) {
    t.test(`is refused for a ${status} campaign`, async (t) => {
      spec.given(history).when(startWith(threeRecipients)).refuses(t, {
        type: BusinessRuleViolation,
        message: 'Campaign cannot be started',
        fields: { errorCode: 'INVALID_STATUS', details: { current_status: status, allowed_statuses: ['draft', 'scheduled'] }, statusCode: 400 },
      })
    })
  }

  t.test('is refused for a campaign that does not exist', async (t) => {
    spec.given([]).when(startWith(threeRecipients)).refuses(t, { type: NotFound, message: 'Campaign not found' })
  })
})

t.test('completeCampaign', async (t) => {
  t.test('completes a running campaign with its outcome counts', async (t) => {
    spec.given(runningHistory).when(complete()).then(t, [completed])
    t.match(existingAfter([...runningHistory, completed]), {
      status: 'completed',
      recipientCount: 3,
      startedAt: startedAt.toISOString(),
      completedAt: completedAt.toISOString(),
      completedBy: author,
      outcome: { sentCount: 3, deliveredCount: 2, readCount: 1, failedCount: 1, deliveryRate: 66.7 },
      updatedAt: completedAt.toISOString(),
    })
  })

  t.test('may be completed by the system', async (t) => {
    spec.given(runningHistory).when(complete(systemActor)).then(t, [
      { type: 'campaignCompleted', data: { ...completed.data, completedBy: { userId: null, name: 'System' } } } as CampaignEvent,
    ])
  })

  t.test('has a delivery rate of 0 when nothing was sent', async (t) => {
    const nothing = { sent: 0, delivered: 0, read: 0, failed: 0 }
    spec.given(runningHistory).when(complete(author, nothing)).then(t, [
      {
        type: 'campaignCompleted',
        data: { ...completed.data, sentCount: 0, deliveredCount: 0, readCount: 0, failedCount: 0, deliveryRate: 0 },
      } as CampaignEvent,
    ])
  })

  t.test('completes a paused campaign', async (t) => {
    // no event leads to `paused` yet: the rule is checked on the state itself
    const paused = { ...existingAfter(runningHistory), status: 'paused' } as unknown as ExistingCampaign
    spec.givenState(paused).when(complete()).then(t, [completed])
  })

  for (const [status, history] of [
    ['draft', [created]],
    ['completed', [...runningHistory, completed]],
  ] as const) {
    t.test(`is refused for a ${status} campaign`, async (t) => {
      spec.given(history).when(complete()).refuses(t, {
        type: BusinessRuleViolation,
        message: 'Campaign cannot be completed',
        fields: { errorCode: 'INVALID_STATUS', details: { current_status: status, allowed_statuses: ['running', 'paused'] } },
      })
    })
  }

  t.test('is refused for a campaign that does not exist', async (t) => {
    spec.given([]).when(complete()).refuses(t, { type: NotFound, message: 'Campaign not found' })
  })
})

t.test('deliveryRate', async (t) => {
  t.equal(deliveryRate({ sent: 0, delivered: 0 }), 0)
  t.equal(deliveryRate({ sent: 4, delivered: 4 }), 100)
  t.equal(deliveryRate({ sent: 3, delivered: 2 }), 66.7)
  t.equal(deliveryRate({ sent: 3, delivered: 1 }), 33.3)
  t.equal(deliveryRate({ sent: 1000, delivered: 999 }), 99.9)
  t.equal(deliveryRate({ sent: 2000, delivered: 1999 }), 100, '99.95 rounds up')
})
