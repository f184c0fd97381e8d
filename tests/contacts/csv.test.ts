import t from 'tap'
import { contactRowsFromCsv } from '../../commands/contacts/contactCsv.ts'
import { CsvSyntaxError, parseCsv } from '../../commands/contacts/csv.ts'
import { ValidationFailed } from '../../infra/errors.ts'

const fields = (text: string): string[][] => parseCsv(text).map((record) => record.fields)

t.test('RFC 4180 records and fields', async (t) => {
  t.same(fields('a,b,c\n1,2,3\n'), [['a', 'b', 'c'], ['1', '2', '3']], 'LF, trailing newline')
  t.same(fields('a,b\r\n1,2'), [['a', 'b'], ['1', '2']], 'CRLF, no trailing newline')
  t.same(fields('a,b\r1,2\r'), [['a', 'b'], ['1', '2']], 'lone CR')
  t.same(fields('a,,c\n,,\n'), [['a', '', 'c'], ['', '', '']], 'empty fields')
  t.same(fields('"a,b","say ""hi""","line\r\nbreak"\n'), [['a,b', 'say "hi"', 'line\r\nbreak']], 'quoted commas, quotes and CRLF')
  t.same(fields('"",x\n'), [['', 'x']], 'a quoted empty field')
  t.same(fields('a\n\n\r\nb\n'), [['a'], ['b']], 'blank lines are skipped')
  t.same(fields('\uFEFFname,phone\nA,1\n'), [['name', 'phone'], ['A', '1']], 'a byte order mark is skipped')
  t.same(fields('ab"c,"d"e\n'), [['ab"c', 'de']], 'lenient: stray quotes are kept')
  t.same(fields(''), [], 'an empty text has no record')
  t.same(fields('é,日本\n'), [['é', '日本']], 'UTF-8 text')
})

t.test('line numbers, and an unclosed quote', async (t) => {
  const records = parseCsv('h1,h2\n"multi\nline",x\n\nlast,y\n')
  t.same(records.map((record) => record.line), [1, 2, 5], 'each record starts on its line; a quoted line break counts')
  t.throws(() => parseCsv('a,b\n"open,c\n'), CsvSyntaxError)
  try {
    parseCsv('a,b\n"open,c\n')
  } catch (error) {
    t.equal((error as CsvSyntaxError).line, 2)
  }
})

t.test('contact rows from a CSV file', async (t) => {
  const text = [
    '\uFEFFName, Phone ,EMAIL,tags,is_active,is_opted_in,Company,Seats,Paying,Zip',
    'Jane Smith,+255712345678,jane@example.com,"vip;Marketing, premium",yes,TRUE,Acme,3,true,007',
    '"Kamau, John",0712 000 001,,vip|new,0,false,"Big ""Co""",-2.5,FALSE,',
    ',,only@example.com,,,,,,,',
  ].join('\r\n')
  const { rows, rowErrors } = contactRowsFromCsv(text)
  t.same(rows, [
    {
      name: 'Jane Smith',
      phone_e164: '+255712345678',
      email: 'jane@example.com',
      tags: ['vip', 'Marketing', 'premium'],
      is_active: true,
      is_opted_in: true,
      attributes: { Company: 'Acme', Seats: 3, Paying: true, Zip: '007' },
    },
    { name: 'Kamau, John', phone_e164: '0712 000 001', tags: ['vip', 'new'], is_active: false, is_opted_in: false, attributes: { Company: 'Big "Co"', Seats: -2.5, Paying: false } },
    { email: 'only@example.com' },
  ])
  t.equal(rowErrors.size, 0)

  const odd = contactRowsFromCsv('phone,name\n+255712000002,A,extra\n+255712000003,B,,\n+255712000004,C,maybe\nx\n')
  t.same(odd.rows.length, 4)
  t.same([...odd.rowErrors.keys()], [0, 2], 'non-empty cells beyond the header are a row error')
  t.match(odd.rowErrors.get(0), { non_field_errors: ['This row has 3 cells; the header names 2 columns.'] })
  t.same(odd.rows[1], { phone_e164: '+255712000003', name: 'B' }, 'empty extra cells are ignored')

  const booleans = contactRowsFromCsv('email,is_active\na@example.com,maybe\n')
  t.same(booleans.rows, [{ email: 'a@example.com', is_active: 'maybe' }], 'an unreadable boolean is left for validation to report')
})

t.test('files refused as a whole', async (t) => {
  const refusals: [string, string][] = [
    ['', 'The submitted file is empty.'],
    ['\uFEFF\r\n', 'The submitted file is empty.'],
    ['name,company\nA,B\n', 'The header row must name a phone_e164 (or phone) column or an email column.'],
    ['phone,Phone_E164\n1,2\n', 'The header names the column "Phone_E164" twice.'],
    ['phone,name\n"unclosed,x\n', 'The file is not valid CSV: A quoted field is not closed (line 2).'],
  ]
  for (const [text, problem] of refusals) {
    try {
      contactRowsFromCsv(text)
      t.fail(`accepted ${JSON.stringify(text)}`)
    } catch (error) {
      t.ok(error instanceof ValidationFailed, JSON.stringify(text))
      t.same((error as ValidationFailed).errors, { file: [problem] }, JSON.stringify(text))
    }
  }
})
