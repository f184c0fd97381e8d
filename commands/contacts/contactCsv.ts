import { ValidationFailed } from '../../infra/errors.ts'
import { CsvSyntaxError, parseCsv } from './csv.ts'

/**
 * Reading a contacts CSV file into bulk-import rows (the same objects the JSON form takes).
 *
 * - The first record is the header; column names are matched without regard to case or
 *   surrounding spaces. `name`, `phone_e164` (or `phone`), `email`, `tags`, `is_active` and
 *   `is_opted_in` are the contact's fields; every other column becomes an attribute.
 * - `tags` holds several tags separated by `;`, `|` or `,` (a comma only inside a quoted cell).
 * - `is_active` and `is_opted_in` read true/false, yes/no, 1/0; anything else is reported.
 * - Attribute cells are typed: true/false become booleans, numbers written as numbers
 *   (`42`, `-3.5`, not `007` or `1e3`) become numbers, the rest stays text.
 * - An empty cell is a field left out. Blank lines are skipped.
 * - Row numbers count the records after the header from 1 (blank lines left out), as for the
 *   JSON form.
 */

export interface CsvRows {
  rows: unknown[]
  /** problems of the record itself (more cells than the header has), by row index */
  rowErrors: Map<number, Record<string, string[]>>
}

const FIELD_COLUMNS: Record<string, string> = {
  name: 'name',
  phone_e164: 'phone_e164',
  phone: 'phone_e164',
  email: 'email',
  tags: 'tags',
  is_active: 'is_active',
  is_opted_in: 'is_opted_in',
}

const BOOLEAN_WORDS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, '1': true, '0': false }

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?$/

function fileError(problem: string): ValidationFailed {
  return new ValidationFailed({ file: [problem] })
}

function attributeValue(cell: string): string | number | boolean {
  const lower = cell.toLowerCase()
  if (lower === 'true') return true
  if (lower === 'false') return false
  if (NUMBER.test(cell) && Number.isFinite(Number(cell))) return Number(cell)
  return cell
}

function splitTags(cell: string): string[] {
  return cell
    .split(/[;|,]/)
    .map((tag) => tag.trim())
    .filter(Boolean)
}

export function contactRowsFromCsv(text: string): CsvRows {
  let records
  try {
    records = parseCsv(text)
  } catch (error) {
    if (error instanceof CsvSyntaxError) throw fileError(`The file is not valid CSV: ${error.message}.`)
    throw error
  }
  const [header, ...body] = records
  if (!header) throw fileError('The submitted file is empty.')

  const columns = header.fields.map((raw) => raw.trim())
  const seen = new Map<string, number>()
  const targets = columns.map((column, index) => {
    if (column === '') return null
    const lower = column.toLowerCase()
    const target = FIELD_COLUMNS[lower] ?? `attributes.${column}`
    const key = target.startsWith('attributes.') ? `attributes.${lower}` : target
    if (seen.has(key)) throw fileError(`The header names the column "${column}" twice.`)
    seen.set(key, index)
    return target
  })
  if (!seen.has('phone_e164') && !seen.has('email')) {
    throw fileError('The header row must name a phone_e164 (or phone) column or an email column.')
  }

  const rows: unknown[] = []
  const rowErrors = new Map<number, Record<string, string[]>>()
  for (const record of body) {
    const index = rows.length
    const row: Record<string, unknown> = {}
    const attributes: Record<string, string | number | boolean> = {}
    record.fields.forEach((raw, position) => {
      const cell = raw.trim()
      if (cell === '') return
      const target = position < targets.length ? targets[position] : undefined
      if (target === undefined) {
        rowErrors.set(index, { non_field_errors: [`This row has ${record.fields.length} cells; the header names ${columns.length} columns.`] })
        return
      }
      if (target === null) return
      if (target.startsWith('attributes.')) attributes[target.slice('attributes.'.length)] = attributeValue(cell)
      else if (target === 'tags') row.tags = splitTags(cell)
      else if (target === 'is_active' || target === 'is_opted_in') row[target] = BOOLEAN_WORDS[cell.toLowerCase()] ?? cell
      else row[target] = cell
    })
    if (Object.keys(attributes).length > 0) row.attributes = attributes
    rows.push(row)
  }
  return { rows, rowErrors }
}
