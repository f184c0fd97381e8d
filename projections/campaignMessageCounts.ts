import type { Kysely, Transaction } from 'kysely'
import type { MessageEvent } from '../commands/messages/messageEvents.ts'
import { addToCounters, CounterBatch } from './engine/rowWrites.ts'

/**
 * The outcome counts of each campaign's messages, kept by every projection that shows them (the
 * campaign board, the message history), each in a table of its own: one count per message event
 * that carries a campaign id — sent (the provider accepted it), delivered, read, failed, cancelled
 * — added as counters so each event adds exactly once. A message the provider never accepted
 * (refused, or failed before sending) is failed without being sent; a cancelled one (its contact
 * opted out, the campaign was cancelled) was never handed to the provider. Each message ends in
 * at most one of delivered, failed and cancelled: their sum is the campaign's final outcomes.
 */
export interface CampaignMessageCountsTable {
  campaign_id: string
  tenant_id: string
  sent: number
  delivered: number
  read: number
  failed: number
  cancelled: number
}

export type CountedMessageEvent = Extract<MessageEvent, { type: 'messageSent' | 'messageDelivered' | 'messageRead' | 'messageFailed' | 'messageCancelled' }>

/** the count each counted message event adds to */
const messageCounter = {
  messageSent: 'sent',
  messageDelivered: 'delivered',
  messageRead: 'read',
  messageFailed: 'failed',
  messageCancelled: 'cancelled',
} as const satisfies Record<CountedMessageEvent['type'], keyof CampaignMessageCountsTable>

export const countedMessageEventTypes = Object.keys(messageCounter) as CountedMessageEvent['type'][]

export const isCountedMessageEvent = <Event extends { type: string }>(event: Event): event is Extract<Event, CountedMessageEvent> => event.type in messageCounter

export async function createCampaignMessageCountsTable(db: Kysely<any>, table: string): Promise<void> {
  await db.schema
    .createTable(table)
    .addColumn('campaign_id', 'uuid', (c) => c.primaryKey())
    .addColumn('tenant_id', 'uuid', (c) => c.notNull())
    .addColumn('sent', 'integer', (c) => c.notNull())
    .addColumn('delivered', 'integer', (c) => c.notNull())
    .addColumn('read', 'integer', (c) => c.notNull())
    .addColumn('failed', 'integer', (c) => c.notNull())
    .addColumn('cancelled', 'integer', (c) => c.notNull())
    .execute()
}

/** One batch's campaign message counts: message events added in memory, then written once. */
export class CampaignMessageCounts {
  readonly #counters = new CounterBatch({ sent: 0, delivered: 0, read: 0, failed: 0, cancelled: 0 })

  /** Counts a message event of a campaign; any other message event changes nothing. */
  add(event: MessageEvent): void {
    if (isCountedMessageEvent(event) && event.data.campaignId) {
      this.#counters.add({ campaign_id: event.data.campaignId, tenant_id: event.data.tenantId }, { [messageCounter[event.type]]: 1 })
    }
  }

  async save(trx: Transaction<any>, table: string): Promise<void> {
    await addToCounters(trx, table, ['campaign_id'], this.#counters.rows())
  }
}
