import { sql, type Kysely, type Selectable, type Transaction } from 'kysely'
import { templateContentOf, type TemplateEvent } from '../commands/templates/templateEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { narrow, upsertRows } from './engine/rowWrites.ts'
import { pageWithTotal, totalOfFilter } from './pageWithTotal.ts'

/**
 * template_catalog: one row per template with its current content, status and review facts,
 * behind GET /templates/ and /templates/{id}/. A deleted template keeps its row with `deleted_at`
 * set; every query leaves those out.
 */
export interface TemplatesTable {
  template_id: string
  tenant_id: string
  name: string
  channel: 'sms' | 'whatsapp'
  category: string
  language: string
  content: string
  variables: string[]
  status: 'draft' | 'pending' | 'approved' | 'rejected'
  created_by_name: string
  created_at: Date | string
  updated_at: Date | string
  approved_at: Date | string | null
  approved_by_name: string | null
  rejected_at: Date | string | null
  rejected_by_name: string | null
  rejection_reason: string | null
  deleted_at: Date | string | null
  /** global position of the template's first event: newest first, stable within an instant */
  position: number
}

export interface TemplateCatalogTables {
  templates: TemplatesTable
}

export type TemplateRow = Selectable<TemplatesTable>

const eventTypes = ['templateCreated', 'templateUpdated', 'templateSubmitted', 'templateApproved', 'templateRejected', 'templateDeleted'] as const satisfies readonly TemplateEvent['type'][]

const noRejection = { rejected_at: null, rejected_by_name: null, rejection_reason: null }

function apply(row: TemplateRow | undefined, event: TemplateEvent, position: number): TemplateRow | undefined {
  switch (event.type) {
    case 'templateCreated': {
      const { data } = event
      return {
        template_id: data.templateId,
        tenant_id: data.tenantId,
        ...templateContentOf(data),
        status: 'draft',
        created_by_name: data.createdBy.name,
        created_at: data.at,
        updated_at: data.at,
        approved_at: null,
        approved_by_name: null,
        ...noRejection,
        deleted_at: null,
        position,
      }
    }
    case 'templateUpdated': {
      const { data } = event
      return (
        row && {
          ...row,
          ...templateContentOf(data),
          status: data.status,
          updated_at: data.at,
          ...noRejection,
        }
      )
    }
    case 'templateSubmitted':
      return row && { ...row, status: 'pending', updated_at: event.data.at }
    case 'templateApproved':
      return row && { ...row, status: 'approved', approved_at: event.data.at, approved_by_name: event.data.approvedBy.name, updated_at: event.data.at }
    case 'templateRejected':
      return (
        row && {
          ...row,
          status: 'rejected',
          rejected_at: event.data.at,
          rejected_by_name: event.data.rejectedBy.name,
          rejection_reason: event.data.reason,
          updated_at: event.data.at,
        }
      )
    case 'templateDeleted':
      return row && { ...row, deleted_at: event.data.at }
  }
}

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const db = trx as Transaction<TemplateCatalogTables>
  const typed = events.map((event) => narrow<TemplateEvent>(event))
  const ids = [...new Set(typed.map((event) => event.data.templateId))]
  const existing = await db.selectFrom('templates').selectAll().where(sql<boolean>`template_id = any(${ids}::uuid[])`).execute()
  const rows = new Map<string, TemplateRow>(existing.map((row) => [row.template_id, row]))
  for (const event of typed) {
    const next = apply(rows.get(event.data.templateId), event, event.position)
    if (next) rows.set(next.template_id, next)
  }
  await upsertRows(trx, 'templates', ['template_id'], ids.flatMap((id) => rows.get(id) ?? []))
}

export const templateCatalog: Projection = {
  kind: 'projection',
  name: 'template_catalog',
  version: 1,
  eventTypes,
  async createTables(db) {
    await db.schema
      .createTable('templates')
      .addColumn('template_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('category', 'text', (c) => c.notNull())
      .addColumn('language', 'text', (c) => c.notNull())
      .addColumn('content', 'text', (c) => c.notNull())
      .addColumn('variables', sql`text[]`, (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_by_name', 'text', (c) => c.notNull())
      .addColumn('created_at', 'timestamptz', (c) => c.notNull())
      .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
      .addColumn('approved_at', 'timestamptz')
      .addColumn('approved_by_name', 'text')
      .addColumn('rejected_at', 'timestamptz')
      .addColumn('rejected_by_name', 'text')
      .addColumn('rejection_reason', 'text')
      .addColumn('deleted_at', 'timestamptz')
      .addColumn('position', 'bigint', (c) => c.notNull())
      .execute()
    await db.schema.createIndex('templates_by_tenant').on('templates').columns(['tenant_id', 'position']).execute()
  },
  handle,
}

export interface TemplateFilter {
  tenantId: string
  status?: TemplatesTable['status']
  channel?: TemplatesTable['channel']
  category?: string
  language?: string
  /** part of the name or the content, any case */
  search?: string
}

/** `text` as a LIKE pattern that matches it literally anywhere. */
function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => `\\${char}`)}%`
}

/** A page of the tenant's templates (deleted ones left out), newest first, with the total count for the filter. */
export async function listTemplates(db: Kysely<TemplateCatalogTables>, filter: TemplateFilter, page: number, pageSize: number): Promise<{ rows: TemplateRow[]; count: number }> {
  let query = db.selectFrom('templates').where('tenant_id', '=', filter.tenantId).where('deleted_at', 'is', null)
  if (filter.status) query = query.where('status', '=', filter.status)
  if (filter.channel) query = query.where('channel', '=', filter.channel)
  if (filter.category) query = query.where('category', '=', filter.category.trim().toLowerCase())
  if (filter.language) query = query.where('language', '=', filter.language.trim().toLowerCase())
  const search = filter.search?.trim()
  if (search) {
    const pattern = containsPattern(search)
    query = query.where((eb) => eb.or([eb('name', 'ilike', pattern), eb('content', 'ilike', pattern)]))
  }
  return pageWithTotal(
    query.selectAll().select(totalOfFilter).orderBy('position', 'desc').limit(pageSize).offset((page - 1) * pageSize),
    page,
    async () => (await query.select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow()).count,
  )
}

/** One template of the tenant, or undefined when it does not exist there or was deleted. */
export async function findTemplate(db: Kysely<TemplateCatalogTables>, tenantId: string, templateId: string): Promise<TemplateRow | undefined> {
  return db
    .selectFrom('templates')
    .selectAll()
    .where('template_id', '=', templateId)
    .where('tenant_id', '=', tenantId)
    .where('deleted_at', 'is', null)
    .executeTakeFirst()
}
