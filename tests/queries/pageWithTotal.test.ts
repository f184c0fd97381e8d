import t from 'tap'
import { sql } from 'kysely'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'
import { pageWithTotal, totalOfFilter } from '../../projections/pageWithTotal.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

const database = await createTestDatabase('page_total')
const { db, close } = await openSqlDatabase({ databaseUrl: database.url, dataDir: 'memory://' })
t.teardown(async () => {
  await close()
  await database.drop()
})

await sql`create table items (id integer primary key, colour text not null)`.execute(db)
await sql`insert into items select n, case when n % 3 = 0 then 'red' else 'blue' end from generate_series(1, 25) n`.execute(db)

const page = (colour: string, number: number, size: number, countAlone: () => Promise<number>) =>
  pageWithTotal(
    db.selectFrom('items').where('colour', '=', colour).selectAll().select(totalOfFilter).orderBy('id').limit(size).offset((number - 1) * size),
    number,
    countAlone,
  )
const countOf = (colour: string) => async () => {
  countedAlone++
  const row = await db.selectFrom('items').where('colour', '=', colour).select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()
  return Number(row.count)
}
let countedAlone = 0

t.test('a page carries the total of its filter, and its rows only their own columns', async (t) => {
  countedAlone = 0
  const second = await page('blue', 2, 5, countOf('blue'))
  t.equal(second.count, 17, '25 items, 8 of them red')
  t.same(
    second.rows.map((row) => row.id),
    [8, 10, 11, 13, 14],
  )
  t.same(Object.keys(second.rows[0]!).sort(), ['colour', 'id'], 'the window column is not part of a row')
  t.equal(countedAlone, 0, 'the page and its total came from one statement')
})

t.test('a page past the end counts the filter on its own', async (t) => {
  countedAlone = 0
  const beyond = await page('red', 3, 5, countOf('red'))
  t.same(beyond.rows, [])
  t.equal(beyond.count, 8)
  t.equal(countedAlone, 1)
})

t.test('an empty first page is an empty list', async (t) => {
  countedAlone = 0
  const none = await page('green', 1, 5, countOf('green'))
  t.same(none, { rows: [], count: 0 })
  t.equal(countedAlone, 0)
})
