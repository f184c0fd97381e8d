import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { contactCriteriaView } from '../commands/contactCriteria.ts'
import { NotFound } from '../infra/errors.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { findSegment, listSegments, segmentCatalog, type SegmentCatalogTables, type SegmentRow } from '../projections/segmentCatalog.ts'
import { PageQuery, pageLinks } from './pagination.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface SegmentQueryRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  readYourWritesTimeoutMs: number
}

const SegmentListQuery = Type.Object({
  search: Type.Optional(Type.String({ maxLength: 200 })),
  ...PageQuery,
  min_position: MinPosition,
})

const SegmentParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const DetailQuery = Type.Object({ min_position: MinPosition })

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString())

/** The same fields as the segment commands answer (commands/segments/segmentView.ts). */
export function segmentRowView(row: SegmentRow) {
  return {
    id: row.segment_id,
    name: row.name,
    description: row.description,
    criteria: contactCriteriaView(row.criteria),
    contact_count: row.contact_count,
    last_counted_at: iso(row.last_counted_at),
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    created_by: row.created_by_id,
    created_by_name: row.created_by_name,
  }
}

export const segmentQueryRoutes: FastifyPluginAsyncTypebox<SegmentQueryRoutesOptions> = async (app, { db, engine, readYourWritesTimeoutMs }) => {
  const catalog = readModel<SegmentCatalogTables>(db, segmentCatalog)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/segments/', { schema: { querystring: SegmentListQuery }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    await awaitPosition(engine, reply, [segmentCatalog.name], request.query.min_position, readYourWritesTimeoutMs)
    const { rows, count } = await listSegments(catalog, { tenantId, search: request.query.search }, page, pageSize)
    return { success: true, data: { results: rows.map(segmentRowView), ...pageLinks(request, page, pageSize, count) } }
  })

  app.get('/api/messaging/segments/:id/', { schema: { params: SegmentParams, querystring: DetailQuery }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [segmentCatalog.name], request.query.min_position, readYourWritesTimeoutMs)
    const row = await findSegment(catalog, tenantId, request.params.id.toLowerCase())
    if (!row) throw new NotFound('Segment not found')
    return { success: true, data: segmentRowView(row) }
  })
}
