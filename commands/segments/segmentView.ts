import { contactCriteriaView } from '../contactCriteria.ts'
import type { ExistingSegment } from './segmentDecider.ts'

/**
 * A segment as the API shows it. `contact_count` is the number of matching contacts when the
 * segment was last counted (`last_counted_at`): on creation, on a change of criteria, and on
 * POST …/update-count/.
 */
export function segmentView(segment: ExistingSegment) {
  return {
    id: segment.segmentId,
    name: segment.name,
    description: segment.description,
    criteria: contactCriteriaView(segment.criteria),
    contact_count: segment.contactCount,
    last_counted_at: segment.lastCountedAt,
    created_at: segment.createdAt,
    updated_at: segment.updatedAt,
    created_by: segment.createdBy.userId,
    created_by_name: segment.createdBy.name,
  }
}
