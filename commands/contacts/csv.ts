/**
 * A small RFC 4180 CSV reader: fields separated by commas, records by CRLF, LF or a lone CR;
 * a field in double quotes may hold commas, line breaks and doubled quotes (`""` is one `"`).
 * A leading byte order mark is skipped. Lenient where RFC 4180 is silent: a quote inside an
 * unquoted field is kept as it is, and text after a closing quote is kept too (`"a"b` reads `ab`).
 */

export class CsvSyntaxError extends Error {
  readonly line: number

  constructor(message: string, line: number) {
    super(`${message} (line ${line})`)
    this.name = 'CsvSyntaxError'
    this.line = line
  }
}

export interface CsvRecord {
  /** the line of the file on which the record starts, from 1 */
  line: number
  fields: string[]
}

export function parseCsv(text: string): CsvRecord[] {
  const records: CsvRecord[] = []
  let fields: string[] = []
  let field = ''
  let line = 1
  let recordLine = 1
  let quoted = false
  // whether the current record has any content: a field separator or a character
  let started = false
  let i = text.charCodeAt(0) === 0xfeff ? 1 : 0

  const endRecord = (): void => {
    fields.push(field)
    records.push({ line: recordLine, fields })
    fields = []
    field = ''
    started = false
  }

  while (i < text.length) {
    const char = text[i]!
    if (quoted) {
      if (char === '"') {
        if (text[i + 1] === '"') {
          field += '"'
          i += 2
          continue
        }
        quoted = false
        i++
        continue
      }
      if (char === '\n' || (char === '\r' && text[i + 1] !== '\n')) line++
      field += char
      i++
      continue
    }
    if (char === '"' && field === '') {
      quoted = true
      started = true
      i++
      continue
    }
    if (char === ',') {
      fields.push(field)
      field = ''
      started = true
      i++
      continue
    }
    if (char === '\r' || char === '\n') {
      if (started || field !== '') endRecord()
      else {
        fields = []
      }
      i += char === '\r' && text[i + 1] === '\n' ? 2 : 1
      line++
      recordLine = line
      continue
    }
    field += char
    started = true
    i++
  }
  if (quoted) throw new CsvSyntaxError('A quoted field is not closed', recordLine)
  if (started || field !== '') endRecord()
  return records
}
