import { Type, type Static } from 'typebox'
import { ContactCriteria } from '../contactCriteria.ts'
import { ActorData } from '../eventParts.ts'

/** A segment's whole definition, as its create and its updates record it. */
const SegmentDefinition = {
  segmentId: Type.String(),
  tenantId: Type.String(),
  name: Type.String(),
  description: Type.String(),
  criteria: ContactCriteria,
}

/** A named, saved set of contact criteria: the contacts that match them now are the segment. */
export const SegmentCreated = Type.Object({
  type: Type.Literal('segmentCreated'),
  data: Type.Object({
    ...SegmentDefinition,
    createdBy: ActorData,
    at: Type.String(),
  }),
})

/** The whole definition after the update (never a diff). */
export const SegmentUpdated = Type.Object({
  type: Type.Literal('segmentUpdated'),
  data: Type.Object({
    ...SegmentDefinition,
    changedFields: Type.Array(Type.String()),
    at: Type.String(),
  }),
})

/** Soft delete: the segment stays in the log; its name is free again. */
export const SegmentDeleted = Type.Object({
  type: Type.Literal('segmentDeleted'),
  data: Type.Object({ segmentId: Type.String(), tenantId: Type.String(), name: Type.String(), at: Type.String() }),
})

/**
 * The number of the tenant's non-deleted contacts that matched the segment's criteria when it was
 * counted (POST …/update-count/), read from the contact directory at `at`.
 */
export const SegmentCounted = Type.Object({
  type: Type.Literal('segmentCounted'),
  data: Type.Object({ segmentId: Type.String(), tenantId: Type.String(), name: Type.String(), count: Type.Integer(), at: Type.String() }),
})

export const SegmentEvent = Type.Union([SegmentCreated, SegmentUpdated, SegmentDeleted, SegmentCounted])
export type SegmentEvent = Static<typeof SegmentEvent>
export type SegmentEventType = SegmentEvent['type']

export const segmentEventTypes = ['segmentCreated', 'segmentUpdated', 'segmentDeleted', 'segmentCounted'] as const satisfies readonly SegmentEventType[]

/**
 * Uniqueness of a segment name within a tenant (case-insensitive): one small stream per name
 * (`segmentName-<tenant>:<lowercased name>`) records which segment holds it, claimed in the same
 * atomic append that creates or renames the segment, as contact phone numbers and emails are.
 */
export const SegmentNameClaimed = Type.Object({
  type: Type.Literal('segmentNameClaimed'),
  data: Type.Object({ key: Type.String(), segmentId: Type.String() }),
})

export const SegmentNameReleased = Type.Object({
  type: Type.Literal('segmentNameReleased'),
  data: Type.Object({ key: Type.String(), segmentId: Type.String() }),
})

export const SegmentNameEvent = Type.Union([SegmentNameClaimed, SegmentNameReleased])
export type SegmentNameEvent = Static<typeof SegmentNameEvent>
