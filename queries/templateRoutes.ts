import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { TemplateView } from '../commands/templates/templateView.ts'
import { NotFound } from '../infra/errors.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { findTemplate, listTemplates, templateCatalog, type TemplateCatalogTables, type TemplateRow } from '../projections/templateCatalog.ts'
import { PageQuery, pageLinks } from './pagination.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface TemplateQueryRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  readYourWritesTimeoutMs: number
}

const TemplateListQuery = Type.Object({
  status: Type.Optional(Type.Enum(['draft', 'pending', 'approved', 'rejected'])),
  channel: Type.Optional(Type.Enum(['sms', 'whatsapp'])),
  category: Type.Optional(Type.String({ minLength: 1, maxLength: 50 })),
  language: Type.Optional(Type.String({ minLength: 1, maxLength: 10 })),
  search: Type.Optional(Type.String({ maxLength: 200 })),
  ...PageQuery,
  min_position: MinPosition,
})

const TemplateParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const DetailQuery = Type.Object({ min_position: MinPosition })

const iso = (value: Date | string): string => new Date(value).toISOString()
const isoOrNull = (value: Date | string | null): string | null => (value === null ? null : iso(value))

/** A template as the API shows it, from the read model: the same shape as the command answers. */
export function templateRowView(row: TemplateRow): TemplateView {
  return {
    id: row.template_id,
    name: row.name,
    channel: row.channel,
    category: row.category,
    language: row.language,
    content: row.content,
    variables: row.variables,
    status: row.status,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    approved_at: isoOrNull(row.approved_at),
    approved_by: row.approved_by_name,
    rejected_at: isoOrNull(row.rejected_at),
    rejected_by: row.rejected_by_name,
    rejection_reason: row.rejection_reason,
    created_by: row.created_by_name,
  }
}

export const templateQueryRoutes: FastifyPluginAsyncTypebox<TemplateQueryRoutesOptions> = async (app, { db, engine, readYourWritesTimeoutMs }) => {
  const catalog = readModel<TemplateCatalogTables>(db, templateCatalog)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/templates/', { schema: { querystring: TemplateListQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    await awaitPosition(engine, reply, [templateCatalog.name], request.query.min_position, readYourWritesTimeoutMs)
    const { rows, count } = await listTemplates(
      catalog,
      {
        tenantId,
        status: request.query.status,
        channel: request.query.channel,
        category: request.query.category,
        language: request.query.language,
        search: request.query.search,
      },
      page,
      pageSize,
    )
    return { success: true, data: { results: rows.map(templateRowView), ...pageLinks(request, page, pageSize, count) } }
  })

  app.get('/api/messaging/templates/:id/', { schema: { params: TemplateParams, querystring: DetailQuery } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [templateCatalog.name], request.query.min_position, readYourWritesTimeoutMs)
    const row = await findTemplate(catalog, tenantId, request.params.id.toLowerCase())
    if (!row) throw new NotFound('Template not found')
    return { success: true, data: templateRowView(row) }
  })
}
