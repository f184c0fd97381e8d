import { BusinessRuleViolation, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { compileBodyValidator } from '../../infra/http/validation.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { upsertContact, upsertContactsTogether, type BatchRowOutcome, type UpsertOutcome } from './contactCommands.ts'
import type { ContactDirectoryLookups } from './contactPorts.ts'
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

export interface ImportOptions {
  /** problems found before validation (a CSV record with too many cells), by row index */
  rowErrors?: ReadonlyMap<number, Record<string, string[]>>
  /** new contacts created per atomic append */
  batchSize?: number
  /** batches in flight at once */
  batchConcurrency?: number
  /** who holds the batch's keys, as the contact directory believes (hints; see KeyKnowledge) */
  directory?: Pick<ContactDirectoryLookups, 'keyHolders'>
}

const validateRow = compileBodyValidator(ContactUpsertBody)

function keysOf(input: ContactInput): string[] {
  return [input.phone ? `phone:${input.phone}` : '', input.email ? `email:${input.email}` : ''].filter(Boolean)
}

interface AcceptedRow {
  index: number
  input: ContactInput
}

async function inParallel<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}

/**
 * Bulk import: every row is validated and normalized on its own, so one bad row is reported
 * rather than refusing the file; a row repeating an earlier row's phone or email is reported as a
 * duplicate; the others are created or update the contact that holds their phone or email, and
 * are reported as created or updated. Every contact created here carries the import id, which
 * groups them in the activity feed.
 *
 * Speed: rows are taken in batches of `batchSize`, a few batches at a time, each written with one
 * atomic multi-stream append (see upsertContactsTogether), so that a row costs no append of its
 * own and as few stream reads as can be:
 * - with the contact directory's hints (`options.directory`): rows whose keys it knows update that
 *   contact after reading its stream only; the others are created as new contacts claiming keys
 *   that no one ever held, reading nothing;
 * - without hints: every row is first taken to be new (no read at all); once a batch turns out
 *   mostly existing contacts, the next batches skip that attempt until one is mostly new again.
 * When a batch's append meets a stream that is not as expected, nothing of it is written and the
 * batch is read key by key and appended together again; rows touching a stream an earlier row of
 * the batch already touches, and batches that meet a concurrent writer again, go through the
 * ordinary upsert, a few at a time.
 */
export async function importContacts(
  store: EventStore,
  context: CommandContext,
  rows: readonly unknown[],
  defaultCountry: CountryCode,
  concurrency = 8,
  options: ImportOptions = {},
): Promise<ImportReport> {
  if (rows.length === 0) throw new ValidationFailed({ contacts: ['Provide at least one contact.'] })
  if (rows.length > MAX_IMPORT_ROWS) {
    throw new ValidationFailed({ contacts: [`Ensure this list has no more than ${MAX_IMPORT_ROWS} items.`] })
  }
  const importId = newId()
  const origin = { source: 'bulk_import' as const, importId }
  const results: ImportRowResult[] = new Array(rows.length)
  const accepted: AcceptedRow[] = []
  const firstRowOfKey = new Map<string, number>()

  rows.forEach((raw, index) => {
    const row = index + 1
    const recordErrors = options.rowErrors?.get(index)
    const errors = recordErrors ?? validateRow(raw)
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
  const record = (index: number, outcome: UpsertOutcome): void => {
    position = Math.max(position, outcome.position)
    results[index] = { row: index + 1, status: outcome.upserted ? 'updated' : 'created', contact_id: outcome.contact.contactId }
  }
  const reject = (index: number, error: BusinessRuleViolation | ValidationFailed): void => {
    const errors = error instanceof ValidationFailed ? error.errors : { non_field_errors: [error.message] }
    results[index] = { row: index + 1, status: 'rejected', errors }
  }
  const upsertOneByOne = (batch: readonly AcceptedRow[]): Promise<void> =>
    inParallel(batch, concurrency, async ({ index, input }) => {
      try {
        record(index, await upsertContact(store, context, input, origin))
      } catch (error) {
        if (error instanceof BusinessRuleViolation || error instanceof ValidationFailed) reject(index, error)
        else throw error
      }
    })
  /** Records a batch's outcomes; answers the rows left to upsert one by one. */
  const settle = (batch: readonly AcceptedRow[], outcomes: readonly BatchRowOutcome[]): AcceptedRow[] =>
    batch.filter(({ index }, i) => {
      const outcome = outcomes[i]!
      if (outcome.kind === 'done') record(index, outcome.outcome)
      else if (outcome.kind === 'refused') reject(index, outcome.error)
      return outcome.kind === 'deferred'
    })

  const batchSize = options.batchSize ?? 200
  const batches: AcceptedRow[][] = []
  for (let start = 0; start < accepted.length; start += batchSize) batches.push(accepted.slice(start, start + batchSize))
  let optimistic = true
  await inParallel(batches, options.batchConcurrency ?? 4, async (batch) => {
    const inputs = batch.map((row) => row.input)
    if (options.directory) {
      const phones = inputs.flatMap((input) => (input.phone ? [input.phone] : []))
      const emails = inputs.flatMap((input) => (input.email ? [input.email] : []))
      const hints = await options.directory.keyHolders(context.tenantId, phones, emails)
      const hinted = await upsertContactsTogether(store, context, inputs, origin, { hints }, concurrency)
      if (hinted) return void (await upsertOneByOne(settle(batch, hinted)))
    } else if (optimistic) {
      const fresh = await upsertContactsTogether(store, context, inputs, origin, 'assumeFresh', concurrency)
      if (fresh) return void settle(batch, fresh)
    }
    const read = await upsertContactsTogether(store, context, inputs, origin, 'read', concurrency)
    if (!read) return upsertOneByOne(batch)
    // without hints, the next batches try the optimistic append first while this one was mostly new contacts
    optimistic = read.filter((row) => row.kind === 'done' && !row.outcome.upserted).length * 2 >= batch.length
    await upsertOneByOne(settle(batch, read))
  })

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
