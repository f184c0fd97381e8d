import t from 'tap'
import type { Actor } from '../../commands/commandContext.ts'
import { tenantDecider, type TenantCommand } from '../../commands/tenants/tenantDecider.ts'
import type { TenantEvent } from '../../commands/tenants/tenantEvents.ts'
import { BusinessRuleViolation } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(tenantDecider)

const tenantId = '0b7f2d10-5c2d-4a55-8f6e-7a8b9c0d1e2f'
const admin: Actor = { userId: 'b1a1f0e2-7d1c-4d2a-9b5e-2c3d4e5f6a7b', name: 'David Ochieng' }
const memberId = 'c2b2a1f3-8e2d-4e3b-8c6f-3d4e5f6a7b8c'
const t0 = new Date('2026-03-10T09:00:00.000Z')
const t1 = new Date('2026-03-10T10:00:00.000Z')

const create: TenantCommand = { type: 'createTenant', tenantId, name: 'Acme', timezone: 'Africa/Dar_es_Salaam', country: 'TZ', createdBy: admin, now: t0 }
const created: TenantEvent = {
  type: 'tenantCreated',
  data: { tenantId, name: 'Acme', timezone: 'Africa/Dar_es_Salaam', country: 'TZ', createdBy: admin, at: t0.toISOString() },
}

t.test('createTenant', async (t) => {
  spec.given([]).when(create).then(t, [created])
  t.match(spec.given([created]).state(), { status: 'active', name: 'Acme', memberIds: [admin.userId], createdAt: t0.toISOString(), updatedAt: t0.toISOString() })
  spec.given([created]).when(create).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
})

t.test('updateTenant', async (t) => {
  const moved: TenantEvent = {
    type: 'tenantUpdated',
    data: { tenantId, name: 'Acme', timezone: 'Africa/Nairobi', country: 'KE', changes: ['timezone', 'country'], updatedBy: admin, at: t1.toISOString() },
  }
  spec.given([created]).when({ type: 'updateTenant', timezone: 'Africa/Nairobi', country: 'KE', updatedBy: admin, now: t1 }).then(t, [moved], 'carries every setting and names the changed ones')
  t.match(spec.given([created, moved]).state(), { name: 'Acme', timezone: 'Africa/Nairobi', country: 'KE', updatedAt: t1.toISOString(), createdAt: t0.toISOString() })
  spec.given([created]).when({ type: 'updateTenant', name: 'Acme', timezone: 'Africa/Dar_es_Salaam', updatedBy: admin, now: t1 }).then(t, [], 'the same settings change nothing')
  spec.given([created]).when({ type: 'updateTenant', updatedBy: admin, now: t1 }).then(t, [], 'nothing asked, nothing changed')
  spec.given([created]).when({ type: 'updateTenant', name: 'Acme Ltd', updatedBy: admin, now: t1 }).then(t, [
    { type: 'tenantUpdated', data: { tenantId, name: 'Acme Ltd', timezone: 'Africa/Dar_es_Salaam', country: 'TZ', changes: ['name'], updatedBy: admin, at: t1.toISOString() } },
  ])
  spec.given([]).when({ type: 'updateTenant', name: 'X', updatedBy: admin, now: t1 }).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
})

t.test('addMember', async (t) => {
  const add: TenantCommand = { type: 'addMember', userId: memberId, email: 'amina@example.com', name: 'Amina Juma', role: 'agent', addedBy: admin, now: t1 }
  const added: TenantEvent = {
    type: 'tenantMemberAdded',
    data: { tenantId, tenantName: 'Acme', userId: memberId, email: 'amina@example.com', name: 'Amina Juma', role: 'agent', addedBy: admin, at: t1.toISOString() },
  }
  spec.given([created]).when(add).then(t, [added])
  t.match(spec.given([created, added]).state(), { memberIds: [admin.userId, memberId] })
  spec.given([created, added]).when(add).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'ALREADY_MEMBER', statusCode: 409 } })
  spec.given([created]).when({ ...add, userId: admin.userId! }).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'ALREADY_MEMBER' } })
  spec.given([]).when(add).refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS' } })
})
