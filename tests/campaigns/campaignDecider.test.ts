import t from 'tap'
import {
  campaignCost,
  campaignDecider,
  deliveryRate,
  type CampaignCommand,
  type CampaignDraft,
  type ExistingCampaign,
  type Pricing,
} from '../../commands/campaigns/campaignDecider.ts'
import { RECIPIENT_CHUNK_SIZE, type CampaignEvent, type Recipient, type TargetSegment } from '../../commands/campaigns/campaignEvents.ts'
import { CAMPAIGN_ACTIONS, CAMPAIGN_STATUSES, type CampaignAction, type CampaignStatus } from '../../commands/campaigns/campaignStatus.ts'
import { systemActor, type Actor } from '../../commands/commandContext.ts'
import { contactCriteriaFrom } from '../../commands/contactCriteria.ts'
import { BusinessRuleViolation, NotFound, ValidationFailed } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(campaignDecider)

const campaignId = '5e0c3b1a-2d4f-4a6b-8c9d-0e1f2a3b4c5d'
const tenantId = '0b7f2d10-5c2d-4a55-8f6e-7a8b9c0d1e2f'
const templateId = '7d4c2a52-0c1e-4f7e-9d59-1f2b3c4d5e6f'
const author: Actor = { userId: 'b1a1f0e2-7d1c-4d2a-9b5e-2c3d4e5f6a7b', name: 'David Ochieng' }
const starter: Actor = { userId: 'c2b2a1f3-8e2d-4e3b-8c6f-3d4e5f6a7b8c', name: 'Amina Juma' }
const createdAt = new Date('2026-03-10T09:00:00Z')
const editedAt = new Date('2026-03-10T09:30:00Z')
const startedAt = new Date('2026-03-10T10:00:00Z')
const laterAt = new Date('2026-03-10T11:00:00Z')
const completedAt = new Date('2026-03-10T12:00:00Z')
const pricing: Pricing = { currency: 'USD', perPart: { sms: 0.25, whatsapp: 0.5 } }

const contactIds = ['11111111-1111-4111-8111-111111111111', '22222222-2222-4222-8222-222222222222', '33333333-3333-4333-8333-333333333333']
const messageText = 'Happy New Year! Get 30% off on your first order. Use code NEWYEAR30'
const vip: TargetSegment = { segmentId: '44444444-4444-4444-8444-444444444444', name: 'VIP Customers', criteria: contactCriteriaFrom({ tags: ['vip'] }) }
const premium = contactCriteriaFrom({ tags: ['premium'], opt_in_status: 'opted_in' })

const draft: CampaignDraft = {
  name: 'New Year Promotion',
  description: 'Welcome the new year with our special offers',
  campaignType: 'sms',
  messageText,
  templateId: null,
  scheduledAt: null,
  targetContactIds: [contactIds[0]!, contactIds[1]!, contactIds[0]!, contactIds[2]!],
  targetSegments: [vip],
  targetCriteria: premium,
  settings: { send_time: '09:00', timezone: 'Africa/Dar_es_Salaam' },
  isRecurring: false,
  recurringSchedule: {},
}

type Create = Extract<CampaignCommand, { type: 'createCampaign' }>
type Update = Extract<CampaignCommand, { type: 'updateCampaign' }>

const create = (overrides: Partial<Create> = {}, draftOverrides: Partial<CampaignDraft> = {}): Create => ({
  type: 'createCampaign',
  campaignId,
  tenantId,
  draft: { ...draft, ...draftOverrides },
  template: null,
  eligibleRecipients: 500,
  pricing,
  createdBy: author,
  now: createdAt,
  ...overrides,
})

/** 500 recipients × 1 GSM-7 part × 0.25 */
const smsCost = { currency: 'USD', channel: 'sms' as const, billableParts: 1, pricePerPart: 0.25, estimatedCost: 125 }

const createdData = {
  campaignId,
  tenantId,
  name: 'New Year Promotion',
  description: 'Welcome the new year with our special offers',
  campaignType: 'sms' as const,
  messageText,
  templateId: null,
  scheduledAt: null,
  targetContactIds: contactIds,
  targetSegments: [vip],
  targetCriteria: premium,
  settings: { send_time: '09:00', timezone: 'Africa/Dar_es_Salaam' },
  isRecurring: false,
  recurringSchedule: {},
  totalRecipients: 500,
  cost: smsCost,
  createdBy: author,
  at: createdAt.toISOString(),
}
const created: CampaignEvent = { type: 'campaignCreated', data: createdData }

const scheduledAt = '2026-03-11T09:00:00.000Z'
const createdScheduled: CampaignEvent = { type: 'campaignCreated', data: { ...createdData, scheduledAt } }
const scheduled = (at = createdAt, when = scheduledAt): CampaignEvent => ({
  type: 'campaignScheduled',
  data: { campaignId, tenantId, name: 'New Year Promotion', scheduledAt: when, at: at.toISOString() },
})

const recipientsOf = (count: number): Recipient[] =>
  Array.from({ length: count }, (_, n) => ({ contactId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, phone: `+2557${String(n).padStart(8, '0')}` }))

const startWith = (recipients: Recipient[]): CampaignCommand => ({ type: 'startCampaign', recipients, pricing, startedBy: starter, now: startedAt })

const recipientsAdded = (chunk: number, recipients: Recipient[]): CampaignEvent => ({
  type: 'campaignRecipientsAdded',
  data: { campaignId, tenantId, chunk, campaignType: 'sms', messageText, recipients },
})

const started = (recipientCount: number): CampaignEvent => ({
  type: 'campaignStarted',
  data: {
    campaignId,
    tenantId,
    name: 'New Year Promotion',
    campaignType: 'sms',
    recipientCount,
    cost: { ...smsCost, estimatedCost: recipientCount * 0.25 },
    startedBy: starter,
    at: startedAt.toISOString(),
  },
})

const threeRecipients = recipientsOf(3)
const runningHistory: CampaignEvent[] = [created, recipientsAdded(0, threeRecipients), started(3)]
const paused: CampaignEvent = { type: 'campaignPaused', data: { campaignId, tenantId, name: 'New Year Promotion', pausedBy: author, at: laterAt.toISOString() } }
const resumed: CampaignEvent = { type: 'campaignResumed', data: { campaignId, tenantId, name: 'New Year Promotion', resumedBy: starter, at: completedAt.toISOString() } }
const cancelled = (previousStatus: CampaignStatus): CampaignEvent => ({
  type: 'campaignCancelled',
  data: { campaignId, tenantId, name: 'New Year Promotion', previousStatus, cancelledBy: author, at: laterAt.toISOString() },
})
const deleted: CampaignEvent = { type: 'campaignDeleted', data: { campaignId, tenantId, name: 'New Year Promotion', deletedBy: author, at: laterAt.toISOString() } }

const counts = { sent: 3, delivered: 2, read: 1, failed: 1, cancelled: 0 }
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

/** The draft an edit sends when it changes nothing. */
function draftOf(campaign: ExistingCampaign): CampaignDraft {
  const { name, description, campaignType, messageText, templateId, scheduledAt, targetContactIds, targetSegments, targetCriteria, settings, isRecurring, recurringSchedule } = campaign
  return { name, description, campaignType, messageText, templateId, scheduledAt, targetContactIds, targetSegments, targetCriteria, settings, isRecurring, recurringSchedule }
}

const update = (campaign: ExistingCampaign, changes: Partial<CampaignDraft>, overrides: Partial<Update> = {}): Update => ({
  type: 'updateCampaign',
  draft: { ...draftOf(campaign), ...changes },
  template: null,
  eligibleRecipients: campaign.totalRecipients,
  pricing,
  updatedBy: starter,
  now: editedAt,
  ...overrides,
})

/** A history reaching each status (`failed` has no command yet: its state is set directly). */
const histories: Record<Exclude<CampaignStatus, 'failed'>, CampaignEvent[]> = {
  draft: [created],
  scheduled: [createdScheduled, scheduled()],
  running: runningHistory,
  paused: [...runningHistory, paused],
  completed: [...runningHistory, completed],
  cancelled: [created, cancelled('draft')],
}
const scenarioIn = (status: CampaignStatus) =>
  status === 'failed' ? spec.givenState({ ...existingAfter(runningHistory), status: 'failed' }) : spec.given(histories[status])

/** One command per action, valid whenever the action's status allows it. */
function commandFor(action: CampaignAction, status: CampaignStatus): CampaignCommand {
  const campaign = status === 'failed' ? { ...existingAfter(runningHistory), status } : existingAfter(histories[status])
  switch (action) {
    case 'edit':
      return update(campaign, { name: 'Renamed' })
    case 'delete':
      return { type: 'deleteCampaign', deletedBy: author, now: laterAt }
    case 'start':
      return startWith(threeRecipients)
    case 'pause':
      return { type: 'pauseCampaign', pausedBy: author, now: laterAt }
    case 'resume':
      return { type: 'resumeCampaign', resumedBy: author, now: laterAt }
    case 'cancel':
      return { type: 'cancelCampaign', cancelledBy: author, now: laterAt }
    case 'complete':
      return complete()
  }
}

const statusAfter: Record<CampaignAction, CampaignStatus | 'same'> = {
  edit: 'same',
  delete: 'same',
  start: 'running',
  pause: 'paused',
  resume: 'running',
  cancel: 'cancelled',
  complete: 'completed',
}

t.test('the state machine: every action in every status', async (t) => {
  for (const action of Object.keys(CAMPAIGN_ACTIONS) as CampaignAction[]) {
    const rule = CAMPAIGN_ACTIONS[action]
    for (const status of CAMPAIGN_STATUSES) {
      const state = scenarioIn(status).state()
      if ((rule.from as readonly CampaignStatus[]).includes(status)) {
        const events = campaignDecider.decide(commandFor(action, status), state)
        t.ok(events.length > 0, `${action} is allowed in ${status}`)
        const after = events.reduce(campaignDecider.evolve, state)
        t.equal(after.status, statusAfter[action] === 'same' ? status : statusAfter[action], `${action} from ${status} leads to ${after.status}`)
      } else {
        scenarioIn(status).when(commandFor(action, status)).refuses(t, {
          type: BusinessRuleViolation,
          message: rule.refusal,
          fields: { errorCode: 'INVALID_STATUS', details: { current_status: status, allowed_statuses: [...rule.from] }, statusCode: 400 },
        })
      }
    }
    spec.given([]).when(commandFor(action, 'draft')).refuses(t, { type: NotFound, message: 'Campaign not found' })
    spec.given([created, deleted]).when(commandFor(action, 'draft')).refuses(t, { type: NotFound, message: 'Campaign not found' })
  }
})

t.test('createCampaign', async (t) => {
  t.test('creates a draft with distinct targets, the segments and criteria, priced for the eligible recipients', async (t) => {
    spec.given([]).when(create()).then(t, [created])
    t.match(existingAfter([created]), {
      status: 'draft',
      campaignId,
      tenantId,
      messageText,
      targetContactIds: contactIds,
      targetSegments: [vip],
      targetCriteria: premium,
      totalRecipients: 500,
      cost: smsCost,
      scheduledAt: null,
      recipientCount: 0,
      startedAt: null,
      completedAt: null,
      outcome: null,
      deletedAt: null,
      createdAt: createdAt.toISOString(),
    })
  })

  t.test('with a scheduled time in the future, it is scheduled', async (t) => {
    spec.given([]).when(create({}, { scheduledAt })).then(t, [createdScheduled, scheduled()])
    t.match(existingAfter([createdScheduled, scheduled()]), { status: 'scheduled', scheduledAt })
  })

  t.test('a scheduled time that is not in the future is a field error', async (t) => {
    for (const when of [createdAt.toISOString(), '2026-03-10T08:59:59.000Z']) {
      spec.given([]).when(create({}, { scheduledAt: when })).refuses(t, {
        type: ValidationFailed,
        fields: { errors: { scheduled_at: ['Scheduled time must be in the future.'] } },
      })
    }
  })

  t.test('prices by channel: SMS parts by encoding, WhatsApp one per message, rounded to cents', async (t) => {
    const long = 'x'.repeat(161)
    spec.given([]).when(create({ eligibleRecipients: 3 }, { messageText: long })).then(t, [
      { type: 'campaignCreated', data: { ...createdData, messageText: long, totalRecipients: 3, cost: { ...smsCost, billableParts: 2, estimatedCost: 1.5 } } },
    ])
    const swahili = 'Habari 😊'
    const events = campaignDecider.decide(create({ eligibleRecipients: 7 }, { messageText: swahili, campaignType: 'whatsapp' }), { status: 'absent' })
    t.match(events[0]!.data, { cost: { channel: 'whatsapp', billableParts: 1, pricePerPart: 0.5, estimatedCost: 3.5 } })
    t.same(campaignCost('sms', 'é€', 3, { currency: 'TZS', perPart: { sms: 0.333, whatsapp: 1 } }), {
      currency: 'TZS',
      channel: 'sms',
      billableParts: 1,
      pricePerPart: 0.333,
      estimatedCost: 1,
    })
    t.same(campaignCost('email', 'ş'.repeat(71), 1, pricing).billableParts, 2, 'UCS-2 beyond 70 characters: two parts; email sends SMS for now')
  })

  t.test('takes the message from an approved template when no text is given', async (t) => {
    const template = { templateId, status: 'approved', content: 'Habari {{first_name}}, karibu!' }
    spec.given([]).when(create({ template }, { messageText: null, templateId })).then(t, [
      { type: 'campaignCreated', data: { ...createdData, messageText: 'Habari {{first_name}}, karibu!', templateId } },
    ])
  })

  t.test('keeps its own text when both a text and an approved template are given', async (t) => {
    const template = { templateId, status: 'approved', content: 'Template text' }
    spec.given([]).when(create({ template }, { templateId })).then(t, [{ type: 'campaignCreated', data: { ...createdData, templateId } }])
  })

  t.test('may target nobody yet', async (t) => {
    spec.given([]).when(create({ eligibleRecipients: 0 }, { targetContactIds: [], targetSegments: [], targetCriteria: null })).then(t, [
      { type: 'campaignCreated', data: { ...createdData, targetContactIds: [], targetSegments: [], targetCriteria: null, totalRecipients: 0, cost: { ...smsCost, estimatedCost: 0 } } },
    ])
  })

  t.test('is refused when the campaign already exists', async (t) => {
    spec.given([created]).when(create()).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Campaign already exists',
      fields: { errorCode: 'INVALID_STATUS', details: { current_status: 'draft', allowed_statuses: ['absent'] } },
    })
  })

  t.test('is refused with a template that is not approved, or not found', async (t) => {
    spec.given([]).when(create({ template: { templateId, status: 'draft', content: 'Draft text' } }, { templateId })).refuses(t, {
      type: ValidationFailed,
      message: 'Validation failed',
      fields: { errors: { template: ['Template must be approved before use (current status: draft).'] } },
    })
    spec.given([]).when(create({ template: null }, { templateId })).refuses(t, { type: ValidationFailed, fields: { errors: { template: ['Template not found.'] } } })
  })

  t.test('is refused without a text and without a template, with every field error at once', async (t) => {
    for (const text of [null, '', '   ']) {
      spec.given([]).when(create({}, { messageText: text })).refuses(t, {
        type: ValidationFailed,
        fields: { errors: { message_text: ['This field is required unless a template is given.'] } },
      })
    }
    spec.given([]).when(create({}, { messageText: null, scheduledAt: '2020-01-01T00:00:00.000Z' })).refuses(t, {
      type: ValidationFailed,
      fields: { errors: { message_text: ['This field is required unless a template is given.'], scheduled_at: ['Scheduled time must be in the future.'] } },
    })
  })
})

t.test('updateCampaign', async (t) => {
  const draftCampaign = existingAfter([created])
  const updated = (data: Partial<Extract<CampaignEvent, { type: 'campaignUpdated' }>['data']>, changedFields: string[]): CampaignEvent => {
    const { createdBy: _createdBy, ...rest } = createdData
    return { type: 'campaignUpdated', data: { ...rest, ...data, changedFields, updatedBy: starter, at: editedAt.toISOString() } }
  }

  t.test('records the whole definition after the edit and the fields it changed', async (t) => {
    const events = spec
      .given([created])
      .when(update(draftCampaign, { name: 'Renamed', targetContactIds: [contactIds[2]!], settings: {} }, { eligibleRecipients: 10 }))
      .then(t, [
        updated({ name: 'Renamed', targetContactIds: [contactIds[2]!], settings: {}, totalRecipients: 10, cost: { ...smsCost, estimatedCost: 2.5 } }, [
          'name',
          'target_contact_ids',
          'settings',
        ]),
      ])
    t.match(existingAfter([created, ...events]), { status: 'draft', name: 'Renamed', totalRecipients: 10, cost: { estimatedCost: 2.5 }, updatedAt: editedAt.toISOString(), createdAt: createdAt.toISOString() })
  })

  t.test('records nothing when nothing changed', async (t) => {
    spec.given([created]).when(update(draftCampaign, {})).then(t, [])
    // stored events may give object keys back in another order: that is no change
    const reordered = { ...update(draftCampaign, { settings: { timezone: 'Africa/Dar_es_Salaam', send_time: '09:00' } }) }
    spec.given([created]).when(reordered).then(t, [], 'the same settings in another key order')
  })

  t.test('records the new resolution when only what the targets resolve to moved', async (t) => {
    spec.given([created]).when(update(draftCampaign, {}, { eligibleRecipients: 499 })).then(t, [updated({ totalRecipients: 499, cost: { ...smsCost, estimatedCost: 124.75 } }, [])])
    const renamedSegment = { ...vip, name: 'VIPs', criteria: contactCriteriaFrom({ tags: ['vip', 'gold'] }) }
    spec.given([created]).when(update(draftCampaign, { targetSegments: [renamedSegment] })).then(t, [updated({ targetSegments: [renamedSegment] }, [])])
  })

  t.test('setting a scheduled time schedules a draft; moving it reschedules; clearing it makes a draft again', async (t) => {
    const set = spec.given([created]).when(update(draftCampaign, { scheduledAt })).then(t, [updated({ scheduledAt }, ['scheduled_at']), scheduled(editedAt)])
    const scheduledCampaign = existingAfter([created, ...set])
    t.equal(scheduledCampaign.status, 'scheduled')
    const moved = '2026-03-12T09:00:00.000Z'
    spec.given([created, ...set]).when(update(scheduledCampaign, { scheduledAt: moved })).then(t, [updated({ scheduledAt: moved }, ['scheduled_at']), scheduled(editedAt, moved)])
    const cleared = spec.given([created, ...set]).when(update(scheduledCampaign, { scheduledAt: null })).then(t, [
      updated({ scheduledAt: null }, ['scheduled_at']),
      { type: 'campaignUnscheduled', data: { campaignId, tenantId, name: 'New Year Promotion', at: editedAt.toISOString() } },
    ])
    t.match(existingAfter([created, ...set, ...cleared]), { status: 'draft', scheduledAt: null })
  })

  t.test('a new scheduled time must be in the future; one that does not change is not checked again', async (t) => {
    const history = [createdScheduled, scheduled()]
    const scheduledCampaign = existingAfter(history)
    spec.given(history).when(update(scheduledCampaign, { scheduledAt: '2026-03-10T09:29:00.000Z' })).refuses(t, {
      type: ValidationFailed,
      fields: { errors: { scheduled_at: ['Scheduled time must be in the future.'] } },
    })
    const dayAfter = new Date('2026-03-12T00:00:00Z')
    const renamed = updated({ name: 'Renamed', scheduledAt }, ['name'])
    spec.given(history).when({ ...update(scheduledCampaign, { name: 'Renamed' }), now: dayAfter }).then(t, [
      { ...renamed, data: { ...renamed.data, at: dayAfter.toISOString() } } as CampaignEvent,
    ])
  })

  t.test('a new template must be approved; its content is the message unless a text is given', async (t) => {
    spec.given([created]).when(update(draftCampaign, { templateId, messageText: null }, { template: { templateId, status: 'pending', content: 'Pending' } })).refuses(t, {
      type: ValidationFailed,
      fields: { errors: { template: ['Template must be approved before use (current status: pending).'] } },
    })
    spec.given([created]).when(update(draftCampaign, { templateId, messageText: null }, { template: { templateId, status: 'approved', content: 'Karibu tena' } })).then(t, [
      updated({ templateId, messageText: 'Karibu tena' }, ['message_text', 'template']),
    ])
  })

  t.test('the same field rules as create', async (t) => {
    spec.given([created]).when(update(draftCampaign, { messageText: '  ' })).refuses(t, {
      type: ValidationFailed,
      fields: { errors: { message_text: ['This field is required unless a template is given.'] } },
    })
  })
})

t.test('deleteCampaign', async (t) => {
  spec.given([created]).when({ type: 'deleteCampaign', deletedBy: author, now: laterAt }).then(t, [deleted])
  t.match(existingAfter([created, deleted]), { status: 'draft', deletedAt: laterAt.toISOString() })
})

t.test('startCampaign', async (t) => {
  t.test('adds the recipients and starts a draft, priced for them', async (t) => {
    spec.given([created]).when(startWith(threeRecipients)).then(t, runningHistory.slice(1))
    t.match(existingAfter(runningHistory), {
      status: 'running',
      recipientCount: 3,
      totalRecipients: 3,
      cost: { estimatedCost: 0.75 },
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
    spec.given([createdScheduled, scheduled()]).when(startWith(threeRecipients)).then(t, runningHistory.slice(1))
  })

  t.test('is refused when no target is an eligible recipient', async (t) => {
    spec.given([created]).when(startWith([])).refuses(t, {
      type: BusinessRuleViolation,
      message: 'Campaign cannot be started',
      fields: { errorCode: 'NO_RECIPIENTS', details: { target_contact_count: 3, eligible_recipient_count: 0 }, statusCode: 400 },
    })
  })
})

t.test('pause, resume and cancel', async (t) => {
  spec.given(runningHistory).when({ type: 'pauseCampaign', pausedBy: author, now: laterAt }).then(t, [paused])
  t.match(existingAfter([...runningHistory, paused]), { status: 'paused', pausedAt: laterAt.toISOString(), startedAt: startedAt.toISOString() })
  spec.given([...runningHistory, paused]).when({ type: 'resumeCampaign', resumedBy: starter, now: completedAt }).then(t, [resumed])
  t.match(existingAfter([...runningHistory, paused, resumed]), { status: 'running', resumedAt: completedAt.toISOString() })
  for (const [status, history] of [
    ['draft', [created]],
    ['scheduled', [createdScheduled, scheduled()]],
    ['running', runningHistory],
    ['paused', [...runningHistory, paused]],
  ] as const) {
    spec.given(history).when({ type: 'cancelCampaign', cancelledBy: author, now: laterAt }).then(t, [cancelled(status)], `cancels a ${status} campaign`)
  }
  t.match(existingAfter([created, cancelled('draft')]), { status: 'cancelled', cancelledAt: laterAt.toISOString(), cancelledBy: author })
})

t.test('completeCampaign', async (t) => {
  t.test('completes a running campaign with its outcome counts', async (t) => {
    spec.given(runningHistory).when(complete()).then(t, [completed])
    t.match(existingAfter([...runningHistory, completed]), {
      status: 'completed',
      recipientCount: 3,
      completedAt: completedAt.toISOString(),
      completedBy: author,
      outcome: { sentCount: 3, deliveredCount: 2, readCount: 1, failedCount: 1, deliveryRate: 66.7 },
    })
  })

  t.test('completes a paused campaign', async (t) => {
    spec.given([...runningHistory, paused]).when(complete()).then(t, [completed])
  })

  t.test('may be completed by the system, with a delivery rate of 0 when nothing was sent', async (t) => {
    spec.given(runningHistory).when(complete(systemActor, { sent: 0, delivered: 0, read: 0, failed: 0, cancelled: 0 })).then(t, [
      {
        type: 'campaignCompleted',
        data: { ...(completed.data as object), sentCount: 0, deliveredCount: 0, readCount: 0, failedCount: 0, deliveryRate: 0, completedBy: { userId: null, name: 'System' } },
      } as CampaignEvent,
    ])
  })
})

t.test('campaigns recorded before smart targeting fold with defaults', async (t) => {
  const legacy = {
    type: 'campaignCreated',
    data: {
      campaignId,
      tenantId,
      name: 'Old',
      description: '',
      campaignType: 'sms',
      messageText: 'Hi',
      templateId: null,
      scheduledAt: null,
      targetContactIds: contactIds,
      createdBy: author,
      at: createdAt.toISOString(),
    },
  } as CampaignEvent
  t.match(existingAfter([legacy]), { status: 'draft', targetSegments: [], targetCriteria: null, settings: {}, isRecurring: false, recurringSchedule: {}, totalRecipients: 0, cost: null })
})

t.test('deliveryRate', async (t) => {
  t.equal(deliveryRate({ sent: 0, delivered: 0 }), 0)
  t.equal(deliveryRate({ sent: 4, delivered: 4 }), 100)
  t.equal(deliveryRate({ sent: 3, delivered: 2 }), 66.7)
  t.equal(deliveryRate({ sent: 2000, delivered: 1999 }), 100, '99.95 rounds up')
})
