import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import type { ContactCriteria } from '../commands/contactCriteria.ts'
import { segmentEventTypes, type SegmentEvent } from '../commands/segments/segmentEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { narrow, upsertRows } from './engine/rowWrites.ts'
import { pageWithTotal, totalOfFilter } from './pageWithTotal.ts'

/**
 * segment_catalog: one row per segment with its definition, its last count and who created it.
 * Serves the segment list and details. Deleted segments keep their row, marked deleted_at.
 */
export interface SegmentsTable {
  segment_id: string
  tenant_id: string
  name: string
  description: string
  criteria: ContactCriteria
  contact_count: number | null
  last_counted_at: Date | string | null
  created_by_id: string | null
  created_by_name: string
  created_at: Date | string
  updated_at: Date | string
  deleted_at: Date | string | null
}

export interface SegmentCatalogTables {
  segments: SegmentsTable
}

export type SegmentRow = Selectable<SegmentsTable>

function apply(row: SegmentRow | undefined, event: SegmentEvent): SegmentRow | undefined {
  switch (event.type) {
    case 'segmentCreated':
      return {
        segment_id: event.data.segmentId,
        tenant_id: event.data.tenantId,
        name: event.data.name,
        description: event.data.description,
        criteria: event.data.criteria,
        contact_count: null,
        last_counted_at: null,
        created_by_id: event.data.createdBy.userId,
        created_by_name: event.data.createdBy.name,
        created_at: event.data.at,
        updated_at: event.data.at,
        deleted_at: null,
      }
    case 'segmentUpdated':
      return row && { ...row, name: event.data.name, description: event.data.description, criteria: event.data.criteria, updated_at: event.data.at }
    case 'segmentDeleted':
      return row && { ...row, deleted_at: event.data.at, updated_at: event.data.at }
    case 'segmentCounted':
      return row && { ...row, contact_count: event.data.count, last_counted_at: event.data.at }
  }
}

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<SegmentCatalogTables>
  const typed = events.map((event) => narrow<SegmentEvent>(event))
  const ids = [...new Set(typed.map((event) => event.data.segmentId))]
  const existing = await db.selectFrom('segments').selectAll().where(sql<boolean>`segment_id = any(${ids}::uuid[])`).execute()
  const rows = new Map<string, SegmentRow>(existing.map((row) => [row.segment_id, row]))
  for (const event of typed) {
    const next = apply(rows.get(event.data.segmentId), event)
    if (next) rows.set(next.segment_id, next)
  }
  const touched = ids.flatMap((id) => {
    const row = rows.get(id)
    return row ? [{ ...row, criteria: JSON.stringify(row.criteria) }] : []
  })
  await upsertRows(trx, 'segments', ['segment_id'], touched)
}

export const segmentCatalog: Projection = {
  kind: 'projection',
  name: 'segment_catalog',
  version: 1,
  eventTypes: segmentEventTypes,
  async createTables(db) {
    await db.schema
      .createTable('segments')
      .addColumn('segment_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('criteria', 'jsonb', (c) => c.notNull())
      .addColumn('contact_count', 'integer')
      .addColumn('last_counted_at', 'timestamptz')
      .addColumn('created_by_id', 'text')
      .addColumn('created_by_name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('deleted_at', 'timestamptz')
      .execute()
    await db.schema
      .createIndex('segments_listed')
      .on('segments')
      .columns(['tenant_id', 'created_at desc', 'segment_id desc'])
      .where(sql.ref('deleted_at'), 'is', null)
      .execute()
  },
  handle,
}

export interface SegmentListFilter {
  tenantId: string
  /** case-insensitive substring of the name */
  search?: string
}

const likePattern = (text: string): string => `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`

/** The tenant's segments (not deleted) matching the filter, newest first, one page of them. */
export async function listSegments(db: Kysely<SegmentCatalogTables>, filter: SegmentListFilter, page: number, pageSize: number): Promise<{ rows: SegmentRow[]; count: number }> {
  let query = db.selectFrom('segments').where('tenant_id', '=', filter.tenantId).where('deleted_at', 'is', null)
  const search = filter.search?.trim()
  if (search) query = query.where('name', 'ilike', likePattern(search))
  return pageWithTotal(
    query.selectAll().select(totalOfFilter).orderBy('created_at', 'desc').orderBy('segment_id', 'desc').limit(pageSize).offset((page - 1) * pageSize),
    page,
    async () => (await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()).count,
  )
}

/** One segment of the tenant, or undefined when it does not exist there or was deleted. */
export async function findSegment(db: Kysely<SegmentCatalogTables>, tenantId: string, segmentId: string): Promise<SegmentRow | undefined> {
  return db
    .selectFrom('segments')
    .selectAll()
    .where('segment_id', '=', segmentId)
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
}
