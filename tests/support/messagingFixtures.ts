import type { FastifyInstance } from 'fastify'
import { as, type Session } from './testApp.ts'

/**
 * Fixtures the messaging HTTP tests share: contacts, conversations and messages made through the
 * API, as a user of a tenant would make them.
 */

/** Creates a contact (a 201 is expected, else it throws) and answers its id. */
export async function createContact(app: FastifyInstance, session: Session, payload: object): Promise<string> {
  const response = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload }))
  if (response.statusCode !== 201) throw new Error(`contact creation failed: ${response.statusCode} ${response.body}`)
  return response.json().data.id as string
}

/**
 * One user of a tenant on the messaging API. It keeps the highest position its commands answered
 * and reads with `?min_position=` at that position, so a read sees every write made before it.
 */
export class MessagingClient {
  position = 0
  constructor(
    readonly app: FastifyInstance,
    readonly session: Session,
  ) {}

  /** A command; fails on any answer from 300 up. */
  async post(url: string, payload?: object): Promise<any> {
    const response = await this.app.inject(as(this.session, { method: 'POST', url, ...(payload ? { payload } : {}) }))
    if (response.statusCode >= 300) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
    const body = response.json()
    this.position = Math.max(this.position, body.position ?? 0)
    return body
  }

  /** A contact with this phone and a conversation with it on the channel; answers the conversation's id. */
  async conversation(phone: string, channel: 'sms' | 'whatsapp' = 'sms'): Promise<string> {
    const contact = (await this.post('/api/messaging/contacts/', { name: `Contact ${phone}`, phone_e164: phone })).data.id
    return (await this.post('/api/messaging/conversations/', { contact_id: contact, subject: 'Orders', channel })).data.id
  }

  /** Sends an outbound message in the conversation; answers the message's id. */
  async send(conversationId: string, content: string): Promise<string> {
    return (await this.post('/api/messaging/messages/', { conversation_id: conversationId, content })).data.id
  }

  /** A read after every command so far; fails unless it answers `status`. */
  async get(url: string, status = 200): Promise<any> {
    const separator = url.includes('?') ? '&' : '?'
    const response = await this.app.inject(as(this.session, { method: 'GET', url: `${url}${separator}min_position=${this.position}` }))
    if (response.statusCode !== status) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
    return response.json()
  }
}
