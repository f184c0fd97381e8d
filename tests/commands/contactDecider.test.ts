import t from 'tap'
import { contactDecider, type ContactCommand } from '../../commands/contacts/contactDecider.ts'
import type { ContactEvent, ContactKeyEvent } from '../../commands/contacts/contactEvents.ts'
import { contactKeyDecider } from '../../commands/contacts/contactKeyDecider.ts'
import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'
import { contactId, created, createdAt, profile, tenantId } from '../support/contactDeciderFixtures.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

/**
 * Decider specifications: given the events already recorded, when a command arrives, then these
 * events follow (or this refusal). Pure functions only: no store, no clock.
 */
const contact = deciderSpec(contactDecider)
const contactKey = deciderSpec(contactKeyDecider)

const t0 = new Date(createdAt)
const t1 = new Date('2026-03-10T10:00:00.000Z')
const t2 = new Date('2026-03-10T11:00:00.000Z')

const optedIn: ContactEvent = { type: 'contactOptedIn', data: { contactId, tenantId, at: t1.toISOString() } }
const deleted: ContactEvent = { type: 'contactDeleted', data: { contactId, tenantId, at: t1.toISOString() } }

t.test('createContact', async (t) => {
  contact
    .given([])
    .when({
      type: 'createContact',
      contactId,
      tenantId,
      changes: { name: 'Jane Smith', phone: '+255712345678', email: 'jane@example.com', tags: ['vip'], attributes: { company: 'Acme Corp', seats: 3 } },
      source: 'api',
      importId: null,
      now: t0,
    })
    .then(t, [created])

  contact
    .given([])
    .when({ type: 'createContact', contactId, tenantId, changes: { phone: '+255712345678' }, source: 'bulk_import', importId: 'imp-1', now: t0 })
    .then(
      t,
      [
        {
          type: 'contactCreated',
          data: {
            contactId,
            tenantId,
            profile: { name: '+255712345678', phone: '+255712345678', email: null, tags: [], attributes: {}, isActive: true },
            source: 'bulk_import',
            importId: 'imp-1',
            at: t0.toISOString(),
          },
        },
      ],
      'defaults: the name falls back to the phone, active, no tags or attributes',
    )

  const [first, second] = contact
    .given([])
    .when({ type: 'createContact', contactId, tenantId, changes: { email: 'a@b.co', isOptedIn: true }, source: 'api', importId: null, now: t0 })
    .then(t, [
      {
        type: 'contactCreated',
        data: {
          contactId,
          tenantId,
          profile: { name: 'a@b.co', phone: null, email: 'a@b.co', tags: [], attributes: {}, isActive: true },
          source: 'api',
          importId: null,
          at: t0.toISOString(),
        },
      },
      { type: 'contactOptedIn', data: { contactId, tenantId, at: t0.toISOString() } },
    ])
  t.ok(first && second, 'created opted in: two events')

  contact
    .given([created])
    .when({ type: 'createContact', contactId, tenantId, changes: { phone: '+255712345678' }, source: 'api', importId: null, now: t1 })
    .refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
})

t.test('updateContact', async (t) => {
  contact
    .given([created])
    .when({ type: 'updateContact', changes: { name: 'Jane Smith', phone: '+255712345678', tags: ['vip'], attributes: { seats: 3 } }, now: t1 })
    .then(t, [], 'no change, no event')

  contact
    .given([created])
    .when({ type: 'updateContact', changes: {}, now: t1 })
    .then(t, [], 'empty update, no event')

  contact
    .given([created])
    .when({ type: 'updateContact', changes: { name: 'Jane S.' }, now: t1 })
    .then(
      t,
      [{ type: 'contactUpdated', data: { contactId, tenantId, profile: { ...profile, name: 'Jane S.' }, changedFields: ['name'], at: t1.toISOString() } }],
      'a partial update keeps the other fields',
    )

  contact
    .given([created])
    .when({ type: 'updateContact', changes: { attributes: { seats: 5, region: 'Arusha' } }, now: t1 })
    .then(
      t,
      [
        {
          type: 'contactUpdated',
          data: {
            contactId,
            tenantId,
            profile: { ...profile, attributes: { company: 'Acme Corp', seats: 5, region: 'Arusha' } },
            changedFields: ['attributes'],
            at: t1.toISOString(),
          },
        },
      ],
      'attributes merge key by key',
    )

  contact
    .given([created])
    .when({ type: 'updateContact', changes: { email: null, tags: ['vip', 'new'], isActive: false }, now: t1 })
    .then(t, [
      {
        type: 'contactUpdated',
        data: {
          contactId,
          tenantId,
          profile: { ...profile, email: null, tags: ['vip', 'new'], isActive: false },
          changedFields: ['email', 'tags', 'isActive'],
          at: t1.toISOString(),
        },
      },
    ])

  contact
    .given([created])
    .when({ type: 'updateContact', changes: { isOptedIn: true }, now: t1 })
    .then(t, [{ type: 'contactOptedIn', data: { contactId, tenantId, at: t1.toISOString() } }], 'opt-in through an update')

  contact
    .given([created, optedIn])
    .when({ type: 'updateContact', changes: { isOptedIn: true }, now: t2 })
    .then(t, [], 'already opted in')

  contact
    .given([created, optedIn])
    .when({ type: 'updateContact', changes: { isOptedIn: false }, now: t2 })
    .then(t, [{ type: 'contactOptedOut', data: { contactId, tenantId, reason: 'Opted out by contact update', at: t2.toISOString() } }])

  contact
    .given([])
    .when({ type: 'updateContact', changes: { name: 'X' }, now: t1 })
    .refuses(t, { type: NotFound })
})

t.test('optIn', async (t) => {
  contact
    .given([created])
    .when({ type: 'optIn', now: t1 })
    .then(t, [optedIn])

  contact
    .given([created, optedIn])
    .when({ type: 'optIn', now: t2 })
    .then(t, [], 'opting in twice is idempotent')

  const state = contact.given([created, optedIn]).state()
  t.match(state, { status: 'active', isOptedIn: true, optInAt: t1.toISOString(), updatedAt: t1.toISOString() })

  contact
    .given([])
    .when({ type: 'optIn', now: t1 })
    .refuses(t, { type: NotFound })
})

t.test('optOut', async (t) => {
  const optedOut: ContactEvent = { type: 'contactOptedOut', data: { contactId, tenantId, reason: 'User requested', at: t2.toISOString() } }
  contact
    .given([created, optedIn])
    .when({ type: 'optOut', reason: 'User requested', now: t2 })
    .then(t, [optedOut], 'the reason is recorded')

  const state = contact.given([created, optedIn, optedOut]).state()
  t.match(state, { isOptedIn: false, optInAt: t1.toISOString(), optOutAt: t2.toISOString(), optOutReason: 'User requested' })

  contact
    .given([created])
    .when({ type: 'optOut', reason: 'Never wanted it', now: t1 })
    .then(
      t,
      [{ type: 'contactOptedOut', data: { contactId, tenantId, reason: 'Never wanted it', at: t1.toISOString() } }],
      'a contact that never opted in still gets its opt-out and reason recorded',
    )

  contact
    .given([created, optedIn, optedOut])
    .when({ type: 'optOut', reason: 'Again', now: t2 })
    .then(t, [], 'opting out twice changes nothing')

  contact
    .given([created, optedIn, optedOut])
    .when({ type: 'optIn', now: t2 })
    .then(t, [{ type: 'contactOptedIn', data: { contactId, tenantId, at: t2.toISOString() } }], 'opting in again after an opt-out')
})

t.test('deleteContact', async (t) => {
  contact
    .given([created])
    .when({ type: 'deleteContact', now: t1 })
    .then(t, [deleted])

  const state = contact.given([created, deleted]).state()
  t.match(state, { status: 'deleted', deletedAt: t1.toISOString() })

  const onDeleted: ContactCommand[] = [
    { type: 'updateContact', changes: { name: 'Back' }, now: t2 },
    { type: 'optIn', now: t2 },
    { type: 'optOut', reason: 'x', now: t2 },
    { type: 'deleteContact', now: t2 },
  ]
  for (const command of onDeleted) {
    contact
      .given([created, deleted])
      .when(command)
      .refuses(t, { type: NotFound, message: 'Contact not found' })
  }
})

t.test('contactKeyDecider', async (t) => {
  const key = '+255712345678'
  const other = '5d2c1b0a-9e8f-4a7b-8c6d-5e4f3a2b1c0d'
  const claimed: ContactKeyEvent = { type: 'contactKeyClaimed', data: { key, kind: 'phone', contactId } }
  const released: ContactKeyEvent = { type: 'contactKeyReleased', data: { key, kind: 'phone', contactId } }

  contactKey
    .given([])
    .when({ type: 'claimKey', key, kind: 'phone', contactId })
    .then(t, [claimed], 'a free key is claimed')

  contactKey
    .given([claimed])
    .when({ type: 'claimKey', key, kind: 'phone', contactId })
    .then(t, [], 'claiming a key one holds changes nothing')

  contactKey
    .given([claimed])
    .when({ type: 'claimKey', key, kind: 'phone', contactId: other })
    .refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'DUPLICATE_CONTACT', statusCode: 409, details: { field: 'phone_e164', contact_id: contactId } } })

  contactKey
    .given([{ type: 'contactKeyClaimed', data: { key: 'jane@example.com', kind: 'email', contactId } }])
    .when({ type: 'claimKey', key: 'jane@example.com', kind: 'email', contactId: other })
    .refuses(t, { type: BusinessRuleViolation, fields: { details: { field: 'email', contact_id: contactId } } })

  contactKey
    .given([claimed])
    .when({ type: 'releaseKey', key, kind: 'phone', contactId: other })
    .then(t, [], 'a release by a contact that does not hold the key changes nothing')

  contactKey
    .given([])
    .when({ type: 'releaseKey', key, kind: 'phone', contactId })
    .then(t, [], 'releasing a free key changes nothing')

  contactKey
    .given([claimed])
    .when({ type: 'releaseKey', key, kind: 'phone', contactId })
    .then(t, [released])

  contactKey
    .given([claimed, released])
    .when({ type: 'claimKey', key, kind: 'phone', contactId: other })
    .then(t, [{ type: 'contactKeyClaimed', data: { key, kind: 'phone', contactId: other } }], 'a released key can be claimed by another contact')

  const state = contactKey.given([claimed, { type: 'contactKeyReleased', data: { key, kind: 'phone', contactId: other } }]).state()
  t.same(state, { holder: contactId }, 'a release event by a non-holder does not free the key')
})
