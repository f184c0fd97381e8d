import { BusinessRuleViolation, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { compileBodyValidator } from '../../infra/http/validation.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { upsertContact } from './contactCommands.ts'
import { contactInputFrom, ContactUpsertBody, type ContactInput } from './contactInput.ts'
import type { CountryCode } from './phoneNumber.ts'

export const MAX_IMPORT_ROWS = 10_000

export type ImportRowResult =
  | { row: number; status: 'created' | 'updated'; contact_id: string }
  | { row: number; status: 'rejected'; errors: Record<string, string[]> }

export interface ImportReport {
  import_id: string
  total_rows: number
  created: number
  updated: number
  rejected: number
  results: ImportRowResult[]
  /** global position after the import's last event (0 when nothing was written) */
  position: number
}

const validateRow = compileBodyValidator(ContactUpsertBody)

function keysOf(input: ContactInput): string[] {
  return [input.phone ? `phone:${input.phone}` : '', input.email ? `email:${input.email}` : ''].filter(Boolean)
}

/**
 * Bulk import: every row is validated and normalized on its own, so one bad row is reported
 * rather than refusing the file; a row repeating an earlier row's phone or email is reported as a
 * duplicate; the others are upserted (a few at a time) and reported as created or updated. Every
 * contact created here carries the import id, which groups them in the activity feed.
 */
export async function importContacts(
  store: EventStore,
  context: CommandContext,
  rows: readonly unknown[],
  defaultCountry: CountryCode,
  concurrency = 8,
): Promise<ImportReport> {
  if (rows.length === 0) throw new ValidationFailed({ contacts: ['Provide at least one contact.'] })
  if (rows.length > MAX_IMPORT_ROWS) {
    throw new ValidationFailed({ contacts: [`Ensure this list has no more than ${MAX_IMPORT_ROWS} items.`] })
  }
  const importId = newId()
  const results: ImportRowResult[] = new Array(rows.length)
  const accepted: { index: number; input: ContactInput }[] = []
  const firstRowOfKey = new Map<string, number>()

  rows.forEach((raw, index) => {
    const row = index + 1
    const errors = validateRow(raw)
    if (errors) {
      results[index] = { row, status: 'rejected', errors }
      return
    }
    let input: ContactInput
    try {
      input = contactInputFrom(raw as ContactUpsertBody, defaultCountry)
    } catch (error) {
      if (!(error instanceof ValidationFailed)) throw error
      results[index] = { row, status: 'rejected', errors: error.errors }
      return
    }
    const repeated = keysOf(input).map((key) => firstRowOfKey.get(key)).find((first) => first !== undefined)
    if (repeated !== undefined) {
      results[index] = { row, status: 'rejected', errors: { non_field_errors: [`Duplicate of row ${repeated} in this import.`] } }
      return
    }
    for (const key of keysOf(input)) firstRowOfKey.set(key, row)
    accepted.push({ index, input })
  })

  let position = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < accepted.length) {
      const { index, input } = accepted[next++]!
      try {
        const outcome = await upsertContact(store, context, input, { source: 'bulk_import', importId })
        position = Math.max(position, outcome.position)
        results[index] = { row: index + 1, status: outcome.upserted ? 'updated' : 'created', contact_id: outcome.contact.contactId }
      } catch (error) {
        if (error instanceof BusinessRuleViolation || error instanceof ValidationFailed) {
          const errors = error instanceof ValidationFailed ? error.errors : { non_field_errors: [error.message] }
          results[index] = { row: index + 1, status: 'rejected', errors }
        } else {
          throw error
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, accepted.length) }, worker))

  const count = (status: ImportRowResult['status']) => results.filter((result) => result.status === status).length
  return {
    import_id: importId,
    total_rows: rows.length,
    created: count('created'),
    updated: count('updated'),
    rejected: count('rejected'),
    results,
    position,
  }
}
