import { sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely'
import type { ContactCriteria } from '../commands/contactCriteria.ts'
import type { ContactDirectoryTables } from './contactDirectory.ts'

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
