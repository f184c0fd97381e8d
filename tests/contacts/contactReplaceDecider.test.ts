import t from 'tap'
import { contactDecider, type ProfileReplacement } from '../../commands/contacts/contactDecider.ts'
import type { ContactEvent } from '../../commands/contacts/contactEvents.ts'
import { NotFound, ValidationFailed } from '../../infra/errors.ts'
import { contactId, created, createdAt, profile, tenantId } from '../support/contactDeciderFixtures.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

/** PUT semantics of the contact decider: the profile is replaced whole, unlike an upsert. */

const spec = deciderSpec(contactDecider)
const t1 = new Date('2026-03-10T10:00:00.000Z')

const optedIn: ContactEvent = { type: 'contactOptedIn', data: { contactId, tenantId, at: createdAt } }
const deleted: ContactEvent = { type: 'contactDeleted', data: { contactId, tenantId, at: createdAt } }

const replacement = (overrides: Partial<ProfileReplacement> = {}): ProfileReplacement => ({
  name: null,
  phone: null,
  email: null,
  tags: [],
  attributes: {},
  isActive: true,
  ...overrides,
})

t.test('fields left out take their defaults: attributes are replaced, not merged', async (t) => {
  spec
    .given([created])
    .when({ type: 'replaceContact', replacement: replacement({ name: 'Jane S.', phone: '+255712345678', attributes: { tier: 'gold' } }), now: t1 })
    .then(t, [
      {
        type: 'contactUpdated',
        data: {
          contactId,
          tenantId,
          profile: { name: 'Jane S.', phone: '+255712345678', email: null, tags: [], attributes: { tier: 'gold' }, isActive: true },
          changedFields: ['name', 'email', 'tags', 'attributes'],
          at: t1.toISOString(),
        },
      },
    ])
})

t.test('the name defaults to the phone, else the email', async (t) => {
  const [event] = spec.given([created]).when({ type: 'replaceContact', replacement: replacement({ email: 'new@example.com' }), now: t1 }).then(t, [
    {
      type: 'contactUpdated',
      data: {
        contactId,
        tenantId,
        profile: { name: 'new@example.com', phone: null, email: 'new@example.com', tags: [], attributes: {}, isActive: true },
        changedFields: ['name', 'phone', 'email', 'tags', 'attributes'],
        at: t1.toISOString(),
      },
    },
  ])
  t.ok(event)
})

t.test('the same profile again changes nothing; is_opted_in left out keeps the status', async (t) => {
  spec.given([created, optedIn]).when({ type: 'replaceContact', replacement: replacement({ ...profile }), now: t1 }).then(t, [])
  spec
    .given([created, optedIn])
    .when({ type: 'replaceContact', replacement: replacement({ ...profile, isOptedIn: false }), now: t1 })
    .then(t, [{ type: 'contactOptedOut', data: { contactId, tenantId, reason: 'Opted out by contact update', at: t1.toISOString() } }])
  spec
    .given([created])
    .when({ type: 'replaceContact', replacement: replacement({ ...profile, isActive: false, isOptedIn: true }), now: t1 })
    .then(t, [
      { type: 'contactUpdated', data: { contactId, tenantId, profile: { ...profile, isActive: false }, changedFields: ['isActive'], at: t1.toISOString() } },
      { type: 'contactOptedIn', data: { contactId, tenantId, at: t1.toISOString() } },
    ])
})

t.test('refusals', async (t) => {
  spec.given([created]).when({ type: 'replaceContact', replacement: replacement({ name: 'Nobody' }), now: t1 }).refuses(t, {
    type: ValidationFailed,
    fields: { errors: { phone_e164: ['Either phone_e164 or email is required.'] } },
  })
  spec.given([]).when({ type: 'replaceContact', replacement: replacement({ phone: '+255712345678' }), now: t1 }).refuses(t, { type: NotFound, message: 'Contact not found' })
  spec.given([created, deleted]).when({ type: 'replaceContact', replacement: replacement({ phone: '+255712345678' }), now: t1 }).refuses(t, { type: NotFound })
})

t.test('upsert still merges attributes', async (t) => {
  spec
    .given([created])
    .when({ type: 'updateContact', changes: { attributes: { tier: 'gold' } }, now: t1 })
    .then(t, [
      {
        type: 'contactUpdated',
        data: { contactId, tenantId, profile: { ...profile, attributes: { company: 'Acme Corp', seats: 3, tier: 'gold' } }, changedFields: ['attributes'], at: t1.toISOString() },
      },
    ])
})
