import { sql } from 'kysely'

/**
 * The column a list's page query selects beside its rows: the total count of the list's filter,
 * computed by the same statement (a window over every matching row, before LIMIT and OFFSET).
 */
export const totalOfFilter = sql<number | string>`count(*) over ()`.as('total_of_filter')

/**
 * A page of a list and the total count of its filter, read by one statement so that both come
 * from one snapshot. (Two statements at once on two connections could each see a different side
 * of a projection's commit: a count of 2 beside an empty page.) A page past the end has no row to
 * carry the total: only then is the filter counted on its own.
 */
export async function pageWithTotal<Row extends { total_of_filter: number | string }>(
  pageQuery: { execute(): Promise<Row[]> },
  page: number,
  countAlone: () => Promise<number | string>,
): Promise<{ rows: Omit<Row, 'total_of_filter'>[]; count: number }> {
  const rows: Partial<Row>[] = await pageQuery.execute()
  if (rows.length === 0) return { rows: [], count: page === 1 ? 0 : Number(await countAlone()) }
  const count = Number(rows[0]!.total_of_filter)
  for (const row of rows) delete row.total_of_filter
  return { rows: rows as Omit<Row, 'total_of_filter'>[], count }
}
