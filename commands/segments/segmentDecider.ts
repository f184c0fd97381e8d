import { NotFound, invalidStatus } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import type { ContactCriteria } from '../contactCriteria.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { SegmentEvent } from './segmentEvents.ts'

export interface ExistingSegment {
  status: 'active' | 'deleted'
  segmentId: string
  tenantId: string
  name: string
  description: string
  criteria: ContactCriteria
  createdBy: Actor
  /** matching contacts when last counted; null until the first count */
  contactCount: number | null
  lastCountedAt: string | null
  createdAt: string
  updatedAt: string
  deletedAt: string | null
}

export type SegmentState = { status: 'absent' } | ExistingSegment

/** A segment's editable definition; PUT replaces it whole. */
export interface SegmentDefinition {
  name: string
  description: string
  criteria: ContactCriteria
}

/**
 * `count` is always looked up by the caller: the tenant's non-deleted contacts matching the
 * criteria (of the command, or of the segment for countSegment) in the contact directory. A new
 * segment is counted at once, and so is an update that changes the criteria.
 */
export type SegmentCommand =
  | ({ type: 'createSegment'; segmentId: string; tenantId: string; createdBy: Actor; count: number; now: Date } & SegmentDefinition)
  | ({ type: 'updateSegment'; count: number; now: Date } & SegmentDefinition)
  | { type: 'deleteSegment'; now: Date }
  | { type: 'countSegment'; count: number; now: Date }

function existing(state: SegmentState): ExistingSegment & { status: 'active' } {
  if (state.status !== 'active') throw new NotFound('Segment not found')
  return state as ExistingSegment & { status: 'active' }
}

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b)

function countedEvent(segment: { segmentId: string; tenantId: string; name: string }, count: number, now: Date): SegmentEvent {
  if (!Number.isInteger(count) || count < 0) throw new Error(`segment count must be a non-negative integer: ${count}`)
  return { type: 'segmentCounted', data: { segmentId: segment.segmentId, tenantId: segment.tenantId, name: segment.name, count, at: now.toISOString() } }
}

function createSegment(command: Extract<SegmentCommand, { type: 'createSegment' }>, state: SegmentState): SegmentEvent[] {
  if (state.status !== 'absent') throw invalidStatus('Segment already exists', state.status, ['absent'])
  return [
    {
      type: 'segmentCreated',
      data: {
        segmentId: command.segmentId,
        tenantId: command.tenantId,
        name: command.name,
        description: command.description,
        criteria: command.criteria,
        createdBy: { userId: command.createdBy.userId, name: command.createdBy.name },
        at: command.now.toISOString(),
      },
    },
    countedEvent(command, command.count, command.now),
  ]
}

function updateSegment(command: Extract<SegmentCommand, { type: 'updateSegment' }>, state: SegmentState): SegmentEvent[] {
  const segment = existing(state)
  const next: SegmentDefinition = { name: command.name, description: command.description, criteria: command.criteria }
  const changedFields = (Object.keys(next) as (keyof SegmentDefinition)[]).filter((field) => !sameValue(next[field], segment[field]))
  if (changedFields.length === 0) return []
  return [
    {
      type: 'segmentUpdated',
      data: { segmentId: segment.segmentId, tenantId: segment.tenantId, ...next, changedFields, at: command.now.toISOString() },
    },
    ...(changedFields.includes('criteria') ? [countedEvent({ ...segment, name: next.name }, command.count, command.now)] : []),
  ]
}

function deleteSegment(command: Extract<SegmentCommand, { type: 'deleteSegment' }>, state: SegmentState): SegmentEvent[] {
  const segment = existing(state)
  return [{ type: 'segmentDeleted', data: { segmentId: segment.segmentId, tenantId: segment.tenantId, name: segment.name, at: command.now.toISOString() } }]
}

function countSegment(command: Extract<SegmentCommand, { type: 'countSegment' }>, state: SegmentState): SegmentEvent[] {
  const segment = existing(state)
  return [countedEvent(segment, command.count, command.now)]
}

export function decide(command: SegmentCommand, state: SegmentState): SegmentEvent[] {
  switch (command.type) {
    case 'createSegment':
      return createSegment(command, state)
    case 'updateSegment':
      return updateSegment(command, state)
    case 'deleteSegment':
      return deleteSegment(command, state)
    case 'countSegment':
      return countSegment(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: SegmentState, event: SegmentEvent): SegmentState {
  switch (event.type) {
    case 'segmentCreated':
      return {
        status: 'active',
        segmentId: event.data.segmentId,
        tenantId: event.data.tenantId,
        name: event.data.name,
        description: event.data.description,
        criteria: event.data.criteria,
        createdBy: event.data.createdBy,
        contactCount: null,
        lastCountedAt: null,
        createdAt: event.data.at,
        updatedAt: event.data.at,
        deletedAt: null,
      }
    case 'segmentUpdated':
      return state.status === 'absent'
        ? state
        : { ...state, name: event.data.name, description: event.data.description, criteria: event.data.criteria, updatedAt: event.data.at }
    case 'segmentDeleted':
      return state.status === 'absent' ? state : { ...state, status: 'deleted', deletedAt: event.data.at, updatedAt: event.data.at }
    case 'segmentCounted':
      return state.status === 'absent' ? state : { ...state, contactCount: event.data.count, lastCountedAt: event.data.at }
    default:
      return unreachable(event)
  }
}

export const segmentDecider: Decider<SegmentCommand, SegmentEvent, SegmentState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
