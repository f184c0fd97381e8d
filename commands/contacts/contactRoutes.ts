import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import { ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { compileBodyValidator } from '../../infra/http/validation.ts'
import { findTenant } from '../tenants/tenantCommands.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { deleteContact, optInContact, optOutContact, replaceContact, upsertContact } from './contactCommands.ts'
import { contactRowsFromCsv } from './contactCsv.ts'
import { importContacts, MAX_IMPORT_ROWS, type ImportOptions } from './contactImport.ts'
import { contactInputFrom, ContactReplaceBody, contactReplacementFrom, ContactUpsertBody } from './contactInput.ts'
import { contactDetailView, contactView } from './contactView.ts'
import type { ContactDirectoryLookups } from './contactPorts.ts'
import { isInternationalForm, type CountryCode } from './phoneNumber.ts'

export interface ContactRoutesOptions {
  store: EventStore
  clock: Clock
  /** country used to read local phone numbers (0712…) when the tenant names none */
  defaultCountry: CountryCode
  /**
   * The contact directory's hints: when a contact was last messaged (command answers show it where
   * known; without the directory they say null) and who holds a bulk import's keys (speed only).
   */
  directory?: ContactDirectoryLookups
}

const ContactParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

// the row limit is checked by importContacts, so a long file gets "no more than N items" on
// `contacts` in both forms instead of the union's "does not match any allowed form"
const ImportRows = Type.Array(Type.Unknown(), { description: `at most ${MAX_IMPORT_ROWS} rows` })
const BulkImportBody = Type.Union([ImportRows, Type.Object({ contacts: ImportRows })])
const validateBulkImportBody = compileBodyValidator(BulkImportBody)

const OptOutBody = Type.Object({ reason: Type.Optional(Type.String({ maxLength: 500 })) })

/** Largest CSV upload: the same as the largest JSON body. */
const MAX_FILE_BYTES = 20 * 1024 * 1024

const isCsvBody = (request: FastifyRequest): boolean => /^(text\/csv|application\/csv)\b/i.test(request.headers['content-type'] ?? '')

function decodeUtf8(bytes: Buffer): string {
  try {
    // a UTF-8 byte order mark is dropped here (and by the CSV reader, for text/csv bodies)
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new ValidationFailed({ file: ['The file must be UTF-8 text.'] })
  }
}

/** The bytes of the multipart upload's `file` field (null without one); other parts are skipped. */
async function uploadedFile(request: FastifyRequest): Promise<Buffer | null> {
  let file: Buffer | null = null
  for await (const part of request.parts()) {
    if (part.type !== 'file') continue
    if (part.fieldname === 'file' && file === null) file = await part.toBuffer()
    else part.file.resume()
  }
  return file
}

export const contactRoutes: FastifyPluginAsyncTypebox<ContactRoutesOptions> = async (app, { store, clock, defaultCountry, directory }) => {
  // multipart/form-data and text/csv are read by these routes only (CSV bulk import)
  await app.register(multipart, { limits: { fileSize: MAX_FILE_BYTES, files: 5, fields: 20, parts: 25 } })
  app.addContentTypeParser(['text/csv', 'application/csv'], { parseAs: 'buffer', bodyLimit: MAX_FILE_BYTES }, (_request, body, done) => {
    try {
      done(null, decodeUtf8(body as Buffer))
    } catch (error) {
      done(error as Error, undefined)
    }
  })
  app.addHook('preHandler', app.authenticate)

  /** The tenant's country for local phone numbers: one read of the tenant's stream. */
  const countryOf = async (tenantId: string): Promise<CountryCode> => ((await findTenant(store, tenantId))?.country as CountryCode | undefined) ?? defaultCountry
  const lastContacted = (tenantId: string, contactId: string): Promise<string | null> => directory?.lastContactedAt(tenantId, contactId) ?? Promise.resolve(null)

  app.post('/api/messaging/contacts/', { schema: { body: ContactUpsertBody }, config: { rateLimit: 'contacts', idempotent: true } }, async (request, reply) => {
    const context = commandContextOf(request, clock)
    // the tenant's country only matters to a local number: an international one is read alone
    const phone = request.body.phone_e164
    const country = phone && !isInternationalForm(phone) ? await countryOf(context.tenantId) : defaultCountry
    const input = contactInputFrom(request.body, country)
    const outcome = await upsertContact(store, context, input)
    const lastContactedAtValue = outcome.upserted ? await lastContacted(context.tenantId, outcome.contact.contactId) : null
    return replyWithPosition(reply, outcome.upserted ? 200 : 201, outcome.position, {
      success: true,
      data: { ...contactView(outcome.contact, lastContactedAtValue), upserted: outcome.upserted },
    })
  })

  /**
   * A JSON array of contacts (or `{contacts: [...]}`), or a CSV file: uploaded as the `file` field
   * of a multipart/form-data body, or sent as a text/csv body (see contactCsv.ts for the columns).
   */
  app.post(
    '/api/messaging/contacts/bulk-import/',
    {
      config: { rateLimit: 'bulk', idempotent: true },
      // the upload is read before the handlers, as a JSON body is, so that the Idempotency-Key
      // check compares the file's contents (it hashes request.body)
      preValidation: async (request) => {
        if (request.isMultipart()) request.body = { file: await uploadedFile(request) }
      },
    },
    async (request, reply) => {
      const context = commandContextOf(request, clock)
      let rows: readonly unknown[]
      const options: ImportOptions = directory ? { directory } : {}
      if (request.isMultipart() || isCsvBody(request)) {
        const file = request.isMultipart() ? (request.body as { file: Buffer | null }).file : null
        if (request.isMultipart() && !file) throw new ValidationFailed({ file: ['No file was submitted.'] })
        const text = file ? decodeUtf8(file) : (request.body as string)
        const csv = contactRowsFromCsv(text)
        rows = csv.rows
        options.rowErrors = csv.rowErrors
      } else {
        const errors = validateBulkImportBody(request.body)
        if (errors) throw new ValidationFailed(errors)
        const body = request.body as unknown[] | { contacts: unknown[] }
        rows = Array.isArray(body) ? body : body.contacts
      }
      const { position, ...report } = await importContacts(store, context, rows, await countryOf(context.tenantId), 8, options)
      return replyWithPosition(reply, 200, position, {
        success: true,
        message: `Imported ${report.created} new and updated ${report.updated} existing contacts; ${report.rejected} rows rejected`,
        data: report,
      })
    },
  )

  /**
   * Replaces the contact's profile: fields left out take their defaults (no tags, no attributes,
   * active; the name becomes the phone or email); `is_opted_in` left out keeps the opt-in status.
   */
  app.put(
    '/api/messaging/contacts/:id/',
    { schema: { params: ContactParams, body: ContactReplaceBody }, config: { rateLimit: 'contacts' } },
    async (request, reply) => {
      const context = commandContextOf(request, clock)
      const replacement = contactReplacementFrom(request.body, await countryOf(context.tenantId))
      const outcome = await replaceContact(store, context, request.params.id.toLowerCase(), replacement)
      return replyWithPosition(reply, 200, outcome.position, {
        success: true,
        data: contactDetailView(outcome.contact, await lastContacted(context.tenantId, outcome.contact.contactId)),
      })
    },
  )

  app.delete('/api/messaging/contacts/:id/', { schema: { params: ContactParams }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const outcome = await deleteContact(store, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Contact deleted successfully',
      data: { id: outcome.contact.contactId, deleted_at: outcome.contact.deletedAt },
    })
  })

  app.post('/api/messaging/contacts/:id/opt-in/', { schema: { params: ContactParams }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const outcome = await optInContact(store, commandContextOf(request, clock), request.params.id.toLowerCase())
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
      config: { rateLimit: 'contacts' },
      // the reason is optional, and so is the body that carries it
      preValidation: async (request) => {
        if (request.body === undefined || request.body === null) request.body = {}
      },
    },
    async (request, reply) => {
      const reason = request.body.reason?.trim() || 'No reason given'
      const outcome = await optOutContact(store, commandContextOf(request, clock), request.params.id.toLowerCase(), reason)
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
