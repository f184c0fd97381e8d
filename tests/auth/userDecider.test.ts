import t from 'tap'
import { userDecider, type UserCommand } from '../../commands/users/userDecider.ts'
import type { UserEvent } from '../../commands/users/userEvents.ts'
import { BusinessRuleViolation } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(userDecider)

const userId = 'b1a1f0e2-7d1c-4d2a-9b5e-2c3d4e5f6a7b'
const tenantId = '0b7f2d10-5c2d-4a55-8f6e-7a8b9c0d1e2f'
const t0 = new Date('2026-03-10T09:00:00.000Z')
const t1 = new Date('2026-03-10T10:00:00.000Z')

const registered: UserEvent = {
  type: 'userRegistered',
  data: { userId, email: 'amina@example.com', firstName: 'Amina', lastName: 'Juma', at: t0.toISOString() },
}
const joined: UserEvent = {
  type: 'userJoinedTenant',
  data: { userId, tenantId, tenantName: 'Acme', role: 'admin', at: t0.toISOString() },
}

t.test('updateProfile', async (t) => {
  const update: UserCommand = { type: 'updateProfile', firstName: 'Amina', lastName: 'Mwangi', now: t1 }
  spec.given([registered, joined]).when(update).then(t, [
    { type: 'userProfileUpdated', data: { userId, email: 'amina@example.com', firstName: 'Amina', lastName: 'Mwangi', at: t1.toISOString() } },
  ])
  const updated: UserEvent = { type: 'userProfileUpdated', data: { userId, email: 'amina@example.com', firstName: 'Amina', lastName: 'Mwangi', at: t1.toISOString() } }
  t.match(spec.given([registered, joined, updated]).state(), { firstName: 'Amina', lastName: 'Mwangi', createdAt: t0.toISOString(), updatedAt: t1.toISOString() })

  spec.given([registered]).when({ type: 'updateProfile', lastName: 'Mwangi', now: t1 }).then(t, [updated], 'a name left out stays as it is')
  spec.given([registered]).when({ type: 'updateProfile', firstName: 'Amina', lastName: 'Juma', now: t1 }).then(t, [], 'the same names change nothing')
  spec.given([registered]).when({ type: 'updateProfile', now: t1 }).then(t, [], 'no names change nothing')
  spec.given([]).when(update).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
})

t.test('verifyEmail', async (t) => {
  const verified: UserEvent = { type: 'userEmailVerified', data: { userId, email: 'amina@example.com', at: t1.toISOString() } }
  spec.given([registered]).when({ type: 'verifyEmail', email: 'amina@example.com', now: t1 }).then(t, [verified])
  t.match(spec.given([registered]).state(), { emailVerified: false })
  t.match(spec.given([registered, verified]).state(), { emailVerified: true, updatedAt: t1.toISOString() })
  spec.given([registered, verified]).when({ type: 'verifyEmail', email: 'amina@example.com', now: t1 }).then(t, [], 'verifying twice changes nothing')
  spec
    .given([registered])
    .when({ type: 'verifyEmail', email: 'someone@example.com', now: t1 })
    .refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'EMAIL_MISMATCH' } })
  spec.given([]).when({ type: 'verifyEmail', email: 'amina@example.com', now: t1 }).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
})

t.test('recordPasswordChange', async (t) => {
  spec.given([registered]).when({ type: 'recordPasswordChange', method: 'reset', now: t1 }).then(t, [
    { type: 'userPasswordChanged', data: { userId, method: 'reset', at: t1.toISOString() } },
  ])
  const events = spec.given([registered]).when({ type: 'recordPasswordChange', method: 'change', now: t1 }).then(t, [
    { type: 'userPasswordChanged', data: { userId, method: 'change', at: t1.toISOString() } },
  ])
  t.notMatch(JSON.stringify(events), /hash|password"/i, 'the event carries no secret')
  spec.given([]).when({ type: 'recordPasswordChange', method: 'change', now: t1 }).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
})

t.test('joinTenant', async (t) => {
  const other = 'c2b2a1f3-8e2d-4e3b-8c6f-3d4e5f6a7b8c'
  spec.given([registered, joined]).when({ type: 'joinTenant', tenantId: other, tenantName: 'Beta', role: 'agent', now: t1 }).then(t, [
    { type: 'userJoinedTenant', data: { userId, tenantId: other, tenantName: 'Beta', role: 'agent', at: t1.toISOString() } },
  ])
  spec
    .given([registered, joined])
    .when({ type: 'joinTenant', tenantId, tenantName: 'Acme', role: 'user', now: t1 })
    .refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'ALREADY_MEMBER', statusCode: 409, details: { tenant_id: tenantId, user_id: userId } } })
})
