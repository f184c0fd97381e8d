import { sql, type Transaction } from 'kysely'
import type { RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import type { DomainEvent } from '../../commands/decider.ts'

/** A recorded event narrowed to one aggregate's event union (switch on `.type`). */
export type Recorded<Event extends DomainEvent> = Event & Omit<RecordedEvent, 'type' | 'data'>

export function narrow<Event extends DomainEvent>(event: RecordedEvent): Recorded<Event> {
  return event as unknown as Recorded<Event>
}

// PostgreSQL allows 65,535 bind parameters per statement
const MAX_PARAMETERS = 60_000

function chunks<T>(rows: readonly T[], columns: number): T[][] {
  const size = Math.max(1, Math.floor(MAX_PARAMETERS / Math.max(1, columns)))
  const result: T[][] = []
  for (let i = 0; i < rows.length; i += size) result.push(rows.slice(i, i + size))
  return result
}

/**
 * Writes whole rows: inserts them, or replaces the non-key columns of rows with the same key.
 * One statement per few thousand rows, so a batch writes each touched row once.
 */
export async function upsertRows(trx: Transaction<any>, table: string, key: readonly string[], rows: readonly Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return
  const columns = Object.keys(rows[0]!)
  const updates = columns.filter((column) => !key.includes(column))
  for (const chunk of chunks(rows, columns.length)) {
    await trx
      .insertInto(table)
      .values(chunk)
      .onConflict((conflict) => {
        const target = conflict.columns(key as string[])
        return updates.length === 0
          ? target.doNothing()
          : target.doUpdateSet(Object.fromEntries(updates.map((column) => [column, sql.ref(`excluded.${column}`)])))
      })
      .execute()
  }
}

/**
 * Adds counts: inserts each row, or adds its numeric columns to the row with the same key (other
 * non-key columns keep the stored value). The engine hands every event to a committed batch
 * exactly once, so adding is safe.
 */
export async function addToCounters(trx: Transaction<any>, table: string, key: readonly string[], rows: readonly Record<string, unknown>[]): Promise<void> {
  if (rows.length === 0) return
  const columns = Object.keys(rows[0]!)
  const counters = columns.filter((column) => !key.includes(column) && typeof rows[0]![column] === 'number')
  for (const chunk of chunks(rows, columns.length)) {
    await trx
      .insertInto(table)
      .values(chunk)
      .onConflict((conflict) =>
        conflict.columns(key as string[]).doUpdateSet(
          Object.fromEntries(counters.map((column) => [column, sql`${sql.ref(`${table}.${column}`)} + ${sql.ref(`excluded.${column}`)}`])),
        ),
      )
      .execute()
  }
}

/** Accumulates counter deltas per key within a batch, for one addToCounters call. */
export class CounterBatch<Counters extends Record<string, number>> {
  readonly #rows = new Map<string, Record<string, unknown>>()
  readonly #zero: Counters

  constructor(zero: Counters) {
    this.#zero = zero
  }

  add(key: Record<string, string>, deltas: Partial<Counters>): void {
    let id = ''
    for (const name in key) id += `${key[name]}\u0001`
    let row = this.#rows.get(id)
    if (!row) {
      row = { ...key, ...this.#zero }
      this.#rows.set(id, row)
    }
    for (const [column, delta] of Object.entries(deltas)) row[column] = (row[column] as number) + (delta as number)
  }

  rows(): Record<string, unknown>[] {
    return [...this.#rows.values()]
  }
}
