import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import type { Services } from '../../app.ts'
import type { ContactCriteriaBody } from '../../commands/contactCriteria.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, type Session } from '../support/testApp.ts'

/** Helpers the campaign HTTP tests share. */
export function campaignFixtures(app: FastifyInstance, services: Services) {
  /** the highest position a command answered with */
  let lastPosition = 0
  const request = async (who: Session, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown): Promise<LightMyRequestResponse> => {
    const response = await app.inject(as(who, { method, url, ...(payload === undefined ? {} : { payload: payload as object }) }))
    const position = Number(response.headers['x-event-position'])
    if (Number.isFinite(position)) lastPosition = Math.max(lastPosition, position)
    return response
  }

  /**
   * Waits until the contact directory has every command answered so far. Recipient resolution
   * waits for the head of the log by itself, but the head it sees lags while a transaction
   * elsewhere on the shared test server is open; the positions of our own commands do not.
   */
  const contactsSettled = async (): Promise<void> => {
    if (!(await services.engine.waitFor('contact_directory', lastPosition, 30_000))) throw new Error('the contact directory did not catch up')
  }

  /** The body of a 2xx answer; fails loudly otherwise. */
  const ok = async (response: Promise<LightMyRequestResponse>, status = 200) => {
    const answer = await response
    if (answer.statusCode !== status) throw new Error(`expected ${status}, got ${answer.statusCode}: ${answer.body}`)
    return answer.json()
  }

  const createContact = async (who: Session, payload: object): Promise<string> => (await ok(request(who, 'POST', '/api/messaging/contacts/', payload), 201)).data.id

  /** Every event ever appended, in every stream (committed or not yet visible to global readers). */
  const eventCount = (): Promise<number> => committedEventCount(services.database.db)

  const streamVersion = async (campaignId: string): Promise<number> => (await services.store.readStream(`campaign-${campaignId}`)).version

  const createSegment = async (who: Session, name: string, criteria: ContactCriteriaBody): Promise<string> =>
    (await ok(request(who, 'POST', '/api/messaging/segments/', { name, criteria }), 201)).data.id

  const deleteSegment = async (who: Session, segmentId: string): Promise<void> => {
    await ok(request(who, 'DELETE', `/api/messaging/segments/${segmentId}/`))
  }

  return { request, ok, createContact, contactsSettled, eventCount, streamVersion, createSegment, deleteSegment }
}

/** The field names of the spec's campaign list sample, in its order. */
export const SPEC_LIST_FIELDS = [
  'id',
  'name',
  'description',
  'campaign_type',
  'campaign_type_display',
  'message_text',
  'template',
  'status',
  'status_display',
  'scheduled_at',
  'started_at',
  'completed_at',
  'total_recipients',
  'sent_count',
  'delivered_count',
  'read_count',
  'failed_count',
  'estimated_cost',
  'actual_cost',
  'progress_percentage',
  'delivery_rate',
  'read_rate',
  'is_active',
  'can_edit',
  'can_start',
  'can_pause',
  'can_cancel',
  'is_recurring',
  'recurring_schedule',
  'settings',
  'created_by',
  'created_by_name',
  'created_at',
  'updated_at',
  'target_contact_count',
  'target_segment_names',
]

/** The field names of the spec's create sample. */
export const SPEC_CREATE_FIELDS = [
  'id',
  'name',
  'description',
  'campaign_type',
  'status',
  'total_recipients',
  'estimated_cost',
  'created_at',
  'target_contact_count',
  'target_segment_names',
]
