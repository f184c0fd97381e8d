import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely'
import type { ContactCriteria } from '../commands/contactCriteria.ts'
import type { SegmentContactCounter } from '../commands/segments/segmentCommands.ts'
import { TemporarilyUnavailable } from '../infra/errors.ts'
import type { EventStore } from '../infra/eventStore/eventStore.ts'
import { contactDirectory, type ContactDirectoryTables } from './contactDirectory.ts'
import { readModel } from './engine/projection.ts'
import type { ProjectionEngine } from './engine/projectionEngine.ts'

/**
 * A contact criteria set as a condition on contact_directory's `contacts` table (tenant and
 * deletion are the caller's conditions). Tags use the array overlap operator, attributes jsonb
 * containment: both can use indexes.
 */
export function matchesCriteria(criteria: ContactCriteria) {
  return (eb: ExpressionBuilder<ContactDirectoryTables, 'contacts'>): Expression<SqlBool> => {
    const conditions: Expression<SqlBool>[] = []
    if (criteria.tags.length > 0) conditions.push(sql<SqlBool>`${eb.ref('tags')} && ${sql.val(criteria.tags)}::text[]`)
    switch (criteria.optInStatus) {
      case 'opted_in':
        conditions.push(eb('is_opted_in', '=', true))
        break
      case 'opted_out':
        conditions.push(eb.and([eb('is_opted_in', '=', false), eb('opt_out_at', 'is not', null)]))
        break
      case 'never_opted_in':
        conditions.push(eb.and([eb('is_opted_in', '=', false), eb('opt_out_at', 'is', null)]))
        break
      case 'any':
        break
    }
    if (Object.keys(criteria.attributes).length > 0) {
      conditions.push(sql<SqlBool>`${eb.ref('attributes')} @> ${JSON.stringify(criteria.attributes)}::jsonb`)
    }
    if (criteria.isActive !== null) conditions.push(eb('is_active', '=', criteria.isActive))
    return eb.and(conditions)
  }
}

/** How many of the tenant's contacts (deleted ones left out) match the criteria: a segment's size. */
export async function countMatchingContacts(db: Kysely<ContactDirectoryTables>, tenantId: string, criteria: ContactCriteria): Promise<number> {
  const row = await db
    .selectFrom('contacts')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .where(matchesCriteria(criteria))
    .executeTakeFirstOrThrow()
  return Number(row.count)
}

/**
 * The segment commands' counter: counts in contact_directory once it has seen every event
 * appended before the call (waiting up to `timeoutMs`; a 503 to retry when it has not).
 */
export function matchingContactCounter(db: Kysely<any>, engine: ProjectionEngine, store: EventStore, timeoutMs: number): SegmentContactCounter {
  const directory = readModel<ContactDirectoryTables>(db, contactDirectory)
  return {
    async countMatching(tenantId, criteria) {
      const reached = await engine.waitFor(contactDirectory.name, await store.headPosition(), timeoutMs)
      if (!reached) throw new TemporarilyUnavailable(`The ${contactDirectory.name} read model is catching up; please retry`)
      return countMatchingContacts(directory, tenantId, criteria)
    },
  }
}
