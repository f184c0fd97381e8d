import t from 'tap'
import type { ContactCriteria } from '../../commands/contactCriteria.ts'
import { segmentDecider } from '../../commands/segments/segmentDecider.ts'
import type { SegmentEvent } from '../../commands/segments/segmentEvents.ts'
import { segmentNameDecider } from '../../commands/segments/segmentNameDecider.ts'
import { BusinessRuleViolation, invalidStatus, NotFound } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(segmentDecider)
const names = deciderSpec(segmentNameDecider)

const segmentId = '5d0c1c1e-8f1a-4a3b-9c4d-1e2f3a4b5c6d'
const otherId = '6e1d2d2f-9a2b-4b4c-8d5e-2f3a4b5c6d7e'
const tenantId = 'a6c1d2e3-4f50-4a61-8b72-9c8d7e6f5a40'
const actor = { userId: '7f2e3e3a-0b3c-4c5d-9e6f-3a4b5c6d7e8f', name: 'David Ochieng' }
const t0 = new Date('2026-03-10T09:00:00.000Z')
const t1 = new Date('2026-03-10T10:00:00.000Z')

const vip: ContactCriteria = { tags: ['vip'], optInStatus: 'opted_in', attributes: {}, isActive: null }
const everyone: ContactCriteria = { tags: [], optInStatus: 'any', attributes: {}, isActive: null }

const created: SegmentEvent = {
  type: 'segmentCreated',
  data: { segmentId, tenantId, name: 'VIP Customers', description: 'Our best', criteria: vip, createdBy: actor, at: t0.toISOString() },
}
const counted: SegmentEvent = { type: 'segmentCounted', data: { segmentId, tenantId, name: 'VIP Customers', count: 12, at: t0.toISOString() } }
const deleted: SegmentEvent = { type: 'segmentDeleted', data: { segmentId, tenantId, name: 'VIP Customers', at: t1.toISOString() } }

t.test('create: the definition, counted at once', async (t) => {
  spec
    .given([])
    .when({ type: 'createSegment', segmentId, tenantId, createdBy: actor, count: 12, now: t0, name: 'VIP Customers', description: 'Our best', criteria: vip })
    .then(t, [created, counted])
  spec
    .given([created])
    .when({ type: 'createSegment', segmentId, tenantId, createdBy: actor, count: 1, now: t0, name: 'Again', description: '', criteria: vip })
    .refuses(t, { type: BusinessRuleViolation, fields: { errorCode: 'INVALID_STATUS', details: invalidStatus('', 'active', ['absent']).details } })
})

t.test('state: counts and deletion fold in', async (t) => {
  t.match(spec.given([created, counted]).state(), { status: 'active', name: 'VIP Customers', contactCount: 12, lastCountedAt: t0.toISOString(), createdBy: actor })
  t.match(spec.given([created, counted, deleted]).state(), { status: 'deleted', deletedAt: t1.toISOString(), contactCount: 12 })
})

t.test('update replaces the definition; new criteria are counted, the same ones are not', async (t) => {
  spec
    .given([created, counted])
    .when({ type: 'updateSegment', count: 40, now: t1, name: 'Everyone', description: '', criteria: everyone })
    .then(t, [
      {
        type: 'segmentUpdated',
        data: { segmentId, tenantId, name: 'Everyone', description: '', criteria: everyone, changedFields: ['name', 'description', 'criteria'], at: t1.toISOString() },
      },
      { type: 'segmentCounted', data: { segmentId, tenantId, name: 'Everyone', count: 40, at: t1.toISOString() } },
    ])
  spec
    .given([created, counted])
    .when({ type: 'updateSegment', count: 0, now: t1, name: 'VIP', description: 'Our best', criteria: vip })
    .then(t, [
      { type: 'segmentUpdated', data: { segmentId, tenantId, name: 'VIP', description: 'Our best', criteria: vip, changedFields: ['name'], at: t1.toISOString() } },
    ])
  spec.given([created]).when({ type: 'updateSegment', count: 5, now: t1, name: 'VIP Customers', description: 'Our best', criteria: vip }).then(t, [], 'nothing changed')
})

t.test('count, delete, and what a deleted or absent segment refuses', async (t) => {
  spec
    .given([created, counted])
    .when({ type: 'countSegment', count: 3, now: t1 })
    .then(t, [{ type: 'segmentCounted', data: { segmentId, tenantId, name: 'VIP Customers', count: 3, at: t1.toISOString() } }])
  spec.given([created]).when({ type: 'deleteSegment', now: t1 }).then(t, [deleted])
  for (const history of [[], [created, deleted]]) {
    for (const command of [
      { type: 'countSegment' as const, count: 1, now: t1 },
      { type: 'deleteSegment' as const, now: t1 },
      { type: 'updateSegment' as const, count: 1, now: t1, name: 'X', description: '', criteria: vip },
    ]) {
      spec.given(history).when(command).refuses(t, { type: NotFound, message: 'Segment not found' })
    }
  }
})

t.test('segment names: one holder per name', async (t) => {
  const claim = { type: 'claimName' as const, key: 'vip customers', name: 'VIP Customers', segmentId }
  names.given([]).when(claim).then(t, [{ type: 'segmentNameClaimed', data: { key: 'vip customers', segmentId } }])
  names.given([{ type: 'segmentNameClaimed', data: { key: 'vip customers', segmentId } }]).when(claim).then(t, [], 'claiming again is a no-op')
  names
    .given([{ type: 'segmentNameClaimed', data: { key: 'vip customers', segmentId: otherId } }])
    .when(claim)
    .refuses(t, {
      type: BusinessRuleViolation,
      message: 'A segment with this name already exists',
      fields: { errorCode: 'DUPLICATE_SEGMENT', statusCode: 409, details: { field: 'name', name: 'VIP Customers', segment_id: otherId } },
    })
  const released = [
    { type: 'segmentNameClaimed' as const, data: { key: 'vip customers', segmentId: otherId } },
    { type: 'segmentNameReleased' as const, data: { key: 'vip customers', segmentId: otherId } },
  ]
  names.given(released).when(claim).then(t, [{ type: 'segmentNameClaimed', data: { key: 'vip customers', segmentId } }], 'a released name can be claimed')
  names.given([]).when({ type: 'releaseName', key: 'vip customers', segmentId }).then(t, [], 'releasing a name one does not hold is a no-op')
})
