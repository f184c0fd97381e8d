import { sql, type Kysely } from 'kysely'
import type { RecipientResolution, RecipientTargets } from '../commands/campaigns/campaignPorts.ts'
import type { ContactDirectoryTables } from './contactDirectory.ts'
import { matchesCriteria } from './contactCriteria.ts'

type Reason = keyof RecipientResolution['excluded'] | 'eligible'

/**
 * Resolves campaign targets against contact_directory: every named id and every criteria match
 * is a reference; references to the same contact collapse to one; each distinct contact is then
 * eligible or left out for its first failing rule, in this order: unknown (not in the tenant),
 * deleted, inactive, opted out, never opted in, no phone number.
 */
export async function resolveRecipients(db: Kysely<ContactDirectoryTables>, tenantId: string, targets: RecipientTargets): Promise<RecipientResolution> {
  const named = [...targets.contactIds]
  const matchedPerCriteria = await Promise.all(
    targets.criteria.map(async (criteria) => {
      const rows = await db
        .selectFrom('contacts')
        .select('contact_id')
        .where('tenant_id', '=', tenantId)
        .where('deleted_at', 'is', null)
        .where(matchesCriteria(criteria))
        .execute()
      return rows.map((row) => row.contact_id)
    }),
  )
  const referenced = named.length + matchedPerCriteria.reduce((sum, ids) => sum + ids.length, 0)
  const distinct = [...new Set([...named, ...matchedPerCriteria.flat()])]

  const rows =
    distinct.length === 0
      ? []
      : await db
          .selectFrom('contacts')
          .select(['contact_id', 'phone', 'deleted_at', 'is_active', 'is_opted_in', 'opt_out_at'])
          .where('tenant_id', '=', tenantId)
          .where(sql<boolean>`contact_id = any(${distinct}::uuid[])`)
          .execute()
  const byId = new Map(rows.map((row) => [row.contact_id, row]))

  const excluded: RecipientResolution['excluded'] = { unknown: 0, deleted: 0, inactive: 0, optedOut: 0, notOptedIn: 0, invalidNumber: 0 }
  const recipients: RecipientResolution['recipients'] = []
  for (const contactId of distinct.sort()) {
    const row = byId.get(contactId)
    const reason: Reason = !row
      ? 'unknown'
      : row.deleted_at !== null
        ? 'deleted'
        : !row.is_active
          ? 'inactive'
          : !row.is_opted_in
            ? row.opt_out_at !== null
              ? 'optedOut'
              : 'notOptedIn'
            : !row.phone
              ? 'invalidNumber'
              : 'eligible'
    if (reason === 'eligible') recipients.push({ contactId, phone: row!.phone! })
    else excluded[reason]++
  }
  return { recipients, referenced, duplicates: referenced - distinct.length, excluded }
}

/** The spec's dry-run `explanations`: one line per reason that left contacts out. */
export function resolutionExplanations(resolution: RecipientResolution): string[] {
  const lines: [number, string][] = [
    [resolution.duplicates, 'Duplicates removed'],
    [resolution.excluded.optedOut, 'Opted-out contacts excluded'],
    [resolution.excluded.notOptedIn, 'Contacts never opted in excluded'],
    [resolution.excluded.invalidNumber, 'Invalid numbers excluded'],
    [resolution.excluded.inactive, 'Inactive contacts excluded'],
    [resolution.excluded.deleted, 'Deleted contacts excluded'],
    [resolution.excluded.unknown, 'Unknown contacts excluded'],
  ]
  return lines.filter(([count]) => count > 0).map(([count, label]) => `${label}: ${count} ${count === 1 ? 'contact' : 'contacts'}`)
}
