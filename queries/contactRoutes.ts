import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { normalizeTags } from '../commands/contacts/contactInput.ts'
import { NotFound } from '../infra/errors.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { contactDirectory, findContact, listContacts, type ContactDirectoryTables, type ContactRow } from '../projections/contactDirectory.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { PageQuery, pageLinks } from './pagination.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface ContactQueryRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  readYourWritesTimeoutMs: number
}

/**
 * `?tag=` may repeat (`?tag=vip&tag=premium`): the list then holds the contacts carrying every one
 * of the given tags. Tags are compared as they are stored: trimmed and lowercase.
 */
const ContactListQuery = Type.Object({
  search: Type.Optional(Type.String({ maxLength: 200 })),
  is_active: Type.Optional(Type.Boolean()),
  is_opted_in: Type.Optional(Type.Boolean()),
  tag: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 20 })),
  ...PageQuery,
  min_position: MinPosition,
})

const ContactParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const DetailQuery = Type.Object({ min_position: MinPosition })

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString())

/** A contact of the list: exactly the spec sample's fields. */
export function contactRowView(row: ContactRow) {
  return {
    id: row.contact_id,
    name: row.name,
    phone_e164: row.phone,
    email: row.email,
    is_active: row.is_active,
    is_opted_in: row.is_opted_in,
    opt_in_at: iso(row.opt_in_at),
    last_contacted_at: iso(row.last_contacted_at),
    attributes: row.attributes,
    tags: row.tags,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }
}

/** A contact's details: the list's fields plus the opt-out facts (as PUT answers them). */
export function contactRowDetailView(row: ContactRow) {
  return { ...contactRowView(row), opt_out_at: iso(row.opt_out_at), opt_out_reason: row.opt_out_reason }
}

export const contactQueryRoutes: FastifyPluginAsyncTypebox<ContactQueryRoutesOptions> = async (app, { db, engine, readYourWritesTimeoutMs }) => {
  const directory = readModel<ContactDirectoryTables>(db, contactDirectory)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/contacts/', { schema: { querystring: ContactListQuery }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    await awaitPosition(engine, reply, [contactDirectory.name], request.query.min_position, readYourWritesTimeoutMs)
    const { rows, count } = await listContacts(
      directory,
      {
        tenantId,
        search: request.query.search,
        isActive: request.query.is_active,
        isOptedIn: request.query.is_opted_in,
        tags: normalizeTags(request.query.tag ?? []),
      },
      page,
      pageSize,
    )
    return { success: true, data: { results: rows.map(contactRowView), ...pageLinks(request, page, pageSize, count) } }
  })

  app.get('/api/messaging/contacts/:id/', { schema: { params: ContactParams, querystring: DetailQuery }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [contactDirectory.name], request.query.min_position, readYourWritesTimeoutMs)
    const row = await findContact(directory, tenantId, request.params.id.toLowerCase())
    if (!row) throw new NotFound('Contact not found')
    return { success: true, data: contactRowDetailView(row) }
  })
}
