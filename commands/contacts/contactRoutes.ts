import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { deleteContact, optInContact, optOutContact, upsertContact } from './contactCommands.ts'
import { importContacts, MAX_IMPORT_ROWS } from './contactImport.ts'
import { contactInputFrom, ContactUpsertBody } from './contactInput.ts'
import { contactView } from './contactView.ts'
import type { CountryCode } from './phoneNumber.ts'

export interface ContactRoutesOptions {
  store: EventStore
  clock: Clock
  /** country used to read local phone numbers (0712…) */
  defaultCountry: CountryCode
}

const ContactParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

// the row limit is checked by importContacts, so a long file gets "no more than N items" on
// `contacts` in both forms instead of the union's "does not match any allowed form"
const ImportRows = Type.Array(Type.Unknown(), { description: `at most ${MAX_IMPORT_ROWS} rows` })
const BulkImportBody = Type.Union([ImportRows, Type.Object({ contacts: ImportRows })])

const OptOutBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) })

export const contactRoutes: FastifyPluginAsyncTypebox<ContactRoutesOptions> = async (app, { store, clock, defaultCountry }) => {
  app.addHook('preHandler', app.authenticate)

  app.post('/api/messaging/contacts/', { schema: { body: ContactUpsertBody }, config: { rateLimit: 'contacts', idempotent: true } }, async (request, reply) => {
    const input = contactInputFrom(request.body, defaultCountry)
    const outcome = await upsertContact(store, commandContextOf(request, clock), input)
    return replyWithPosition(reply, outcome.upserted ? 200 : 201, outcome.position, {
      success: true,
      data: { ...contactView(outcome.contact), upserted: outcome.upserted },
    })
  })

  app.post('/api/messaging/contacts/bulk-import/', { schema: { body: BulkImportBody } }, async (request, reply) => {
    const rows = Array.isArray(request.body) ? request.body : request.body.contacts
    const { position, ...report } = await importContacts(store, commandContextOf(request, clock), rows, defaultCountry)
    return replyWithPosition(reply, 200, position, {
      success: true,
      message: `Imported ${report.created} new and updated ${report.updated} existing contacts; ${report.rejected} rows rejected`,
      data: report,
    })
  })

  app.delete('/api/messaging/contacts/:id/', { schema: { params: ContactParams } }, async (request, reply) => {
    const outcome = await deleteContact(store, commandContextOf(request, clock), request.params.id)
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Contact deleted successfully',
      data: { id: outcome.contact.contactId, deleted_at: outcome.contact.deletedAt },
    })
  })

  app.post('/api/messaging/contacts/:id/opt-in/', { schema: { params: ContactParams } }, async (request, reply) => {
    const outcome = await optInContact(store, commandContextOf(request, clock), request.params.id)
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Contact opted in successfully',
      data: { id: outcome.contact.contactId, is_opted_in: outcome.contact.isOptedIn, opt_in_at: outcome.contact.optInAt },
    })
  })

  app.post(
    '/api/messaging/contacts/:id/opt-out/',
    {
      schema: { params: ContactParams, body: OptOutBody },
      // the reason is optional, and so is the body that carries it
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {}
      },
    },
    async (request, reply) => {
      const reason = request.body.reason?.trim() || 'No reason given'
      const outcome = await optOutContact(store, commandContextOf(request, clock), request.params.id, reason)
      return replyWithPosition(reply, 200, outcome.position, {
        success: true,
        message: 'Contact opted out successfully',
        data: {
          id: outcome.contact.contactId,
          is_opted_in: outcome.contact.isOptedIn,
          opt_out_reason: outcome.contact.optOutReason,
          opt_out_at: outcome.contact.optOutAt,
        },
      })
    },
  )
}
