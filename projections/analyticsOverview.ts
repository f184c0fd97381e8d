import { sql, type Kysely, type Transaction } from 'kysely'
import { CAMPAIGN_STATUSES, type CampaignStatus } from '../commands/campaigns/campaignStatus.ts'
import type { CampaignEvent } from '../commands/campaigns/campaignEvents.ts'
import type { ContactEvent } from '../commands/contacts/contactEvents.ts'
import type { ConversationStatus } from '../commands/conversations/conversationDecider.ts'
import type { ConversationEvent } from '../commands/conversations/conversationEvents.ts'
import type { MessageEvent, MessageStatus } from '../commands/messages/messageEvents.ts'
import type { TemplateStatus } from '../commands/templates/templateDecider.ts'
import type { TemplateEvent } from '../commands/templates/templateEvents.ts'
import type { RecordedEvent } from '../infra/eventStore/eventStore.ts'
import type { Projection } from './engine/projection.ts'
import { addToCounters, CounterBatch, narrow, upsertRows } from './engine/rowWrites.ts'

/**
 * analytics_overview: the tenant-wide totals behind GET /messaging/analytics/overview/ — contacts,
 * campaigns, messages, conversations and templates by status — as counters, so no request counts
 * rows. Counting "by current status" needs each entity's current status: a small state table per
 * kind keeps it, and each batch moves every touched entity's contribution from the bucket it was
 * stored in to the bucket it ends in, once (old contribution subtracted, new one added).
 *
 * Status-changing events are listed in one table per kind (`…_STATUS_AFTER`): a new event that
 * moves a campaign, template or conversation to a status is one line there.
 */
export const TEMPLATE_STATUSES = ['draft', 'pending', 'approved', 'rejected'] as const satisfies readonly TemplateStatus[]
export const CONVERSATION_STATUSES = ['open', 'closed'] as const satisfies readonly ConversationStatus[]
export const MESSAGE_STATUSES = ['queued', 'sent', 'delivered', 'read', 'failed', 'cancelled', 'received'] as const satisfies readonly MessageStatus[]
export const CHANNELS = ['sms', 'whatsapp'] as const

export type Channel = (typeof CHANNELS)[number]

/** Takes the entity out of every count (a deleted campaign or template). */
const DELETED = 'deleted'
type Deleted = typeof DELETED

/**
 * For each status-changing event of a kind, the status the entity has afterwards: a status, or a
 * function of the event when the event says which (an edit that moves a template back to draft).
 */
type StatusRules<Event extends { type: string }, Status> = {
  [Type in Event['type']]?: Status | ((event: Extract<Event, { type: Type }>) => Status)
}

/** The status a campaign has after each status-changing event. */
const CAMPAIGN_STATUS_AFTER = {
  campaignCreated: 'draft',
  campaignScheduled: 'scheduled',
  campaignUnscheduled: 'draft',
  campaignStarted: 'running',
  campaignPaused: 'paused',
  campaignResumed: 'running',
  campaignCancelled: 'cancelled',
  campaignCompleted: 'completed',
  campaignDeleted: DELETED,
} as const satisfies StatusRules<CampaignEvent, CampaignStatus | Deleted>

/** The status a template has after each status-changing event. */
const TEMPLATE_STATUS_AFTER = {
  templateCreated: 'draft',
  templateUpdated: (event) => event.data.status,
  templateSubmitted: 'pending',
  templateApproved: 'approved',
  templateRejected: 'rejected',
  templateDeleted: DELETED,
} as const satisfies StatusRules<TemplateEvent, TemplateStatus | Deleted>

/** The status a conversation has after each status-changing event. */
const CONVERSATION_STATUS_AFTER = {
  conversationStarted: 'open',
  conversationClosed: 'closed',
  conversationReopened: 'open',
} as const satisfies StatusRules<ConversationEvent, ConversationStatus>

/** The status a message has after each of its events (the message decider orders them). */
const MESSAGE_STATUS_AFTER = {
  outboundMessageQueued: 'queued',
  inboundMessageReceived: 'received',
  messageSent: 'sent',
  messageDelivered: 'delivered',
  messageRead: 'read',
  messageFailed: 'failed',
  messageCancelled: 'cancelled',
} as const satisfies Required<StatusRules<MessageEvent, MessageStatus>>

/** The status an event of `rules` leads to. */
function statusAfter<Event extends { type: string }, Status>(rules: StatusRules<Event, Status>, event: Event): Status {
  const rule = (rules as Record<string, Status | ((event: Event) => Status)>)[event.type]
  return typeof rule === 'function' ? (rule as (event: Event) => Status)(event) : (rule as Status)
}

type CampaignStatusEvent = Extract<CampaignEvent, { type: keyof typeof CAMPAIGN_STATUS_AFTER }>
type TemplateStatusEvent = Extract<TemplateEvent, { type: keyof typeof TEMPLATE_STATUS_AFTER }>
type ConversationStatusEvent = Extract<ConversationEvent, { type: keyof typeof CONVERSATION_STATUS_AFTER }>
type HandledEvent = ContactEvent | CampaignStatusEvent | TemplateStatusEvent | ConversationStatusEvent | MessageEvent

const keysOf = <T extends object>(table: T): (keyof T & string)[] => Object.keys(table) as (keyof T & string)[]

const contactEventTypes = ['contactCreated', 'contactUpdated', 'contactOptedIn', 'contactOptedOut', 'contactDeleted'] as const satisfies readonly ContactEvent['type'][]

const eventTypes: readonly HandledEvent['type'][] = [
  ...contactEventTypes,
  ...keysOf(CAMPAIGN_STATUS_AFTER),
  ...keysOf(TEMPLATE_STATUS_AFTER),
  ...keysOf(CONVERSATION_STATUS_AFTER),
  ...keysOf(MESSAGE_STATUS_AFTER),
]

const isIn = <T extends object>(table: T, type: string): type is keyof T & string => Object.hasOwn(table, type)

/** A guard for the events one `…_STATUS_AFTER` table lists. */
const eventsOf =
  <T extends object>(table: T) =>
  (event: HandledEvent): event is Extract<HandledEvent, { type: keyof T }> =>
    isIn(table, event.type)

const isMessageEvent = eventsOf(MESSAGE_STATUS_AFTER)
const isCampaignEvent = eventsOf(CAMPAIGN_STATUS_AFTER)
const isTemplateEvent = eventsOf(TEMPLATE_STATUS_AFTER)
const isConversationEvent = eventsOf(CONVERSATION_STATUS_AFTER)

// ---- tables ----

type TenantCounter =
  | 'contacts_total'
  | 'contacts_active'
  | 'contacts_opted_in'
  | 'contacts_opted_out'
  | 'contacts_deleted'
  | `campaigns_${CampaignStatus}`
  | `templates_${TemplateStatus}`
  | `conversations_${ConversationStatus}`
  | 'conversations_replied'

const TENANT_COUNTERS: readonly TenantCounter[] = [
  'contacts_total',
  'contacts_active',
  'contacts_opted_in',
  'contacts_opted_out',
  'contacts_deleted',
  ...CAMPAIGN_STATUSES.map((status) => `campaigns_${status}` as const),
  ...TEMPLATE_STATUSES.map((status) => `templates_${status}` as const),
  ...CONVERSATION_STATUSES.map((status) => `conversations_${status}` as const),
  'conversations_replied',
]

/**
 * Per tenant and channel: messages by current status, and `accepted`: messages the provider
 * accepted (messageSent), whatever happened to them after — the base of the delivery rate.
 */
const MESSAGE_COUNTERS = [...MESSAGE_STATUSES, 'accepted'] as const

type TenantCounters = Record<TenantCounter, number>
type MessageCounters = Record<(typeof MESSAGE_COUNTERS)[number], number>

const zeroTenant = Object.fromEntries(TENANT_COUNTERS.map((name) => [name, 0])) as TenantCounters
const zeroMessages = Object.fromEntries(MESSAGE_COUNTERS.map((name) => [name, 0])) as MessageCounters

/** Per tenant: contacts, campaigns, templates and conversations by status. */
export interface TenantCountsTable extends TenantCounters {
  tenant_id: string
}

/** Per tenant and channel: messages by current status, and those the provider accepted. */
export interface MessageCountsTable extends MessageCounters {
  tenant_id: string
  channel: string
}

export interface ContactStatesTable {
  contact_id: string
  tenant_id: string
  is_active: boolean
  /** 'none' until the contact opts in or out */
  consent: 'none' | 'opted_in' | 'opted_out'
  deleted: boolean
}

export interface CampaignStatesTable {
  campaign_id: string
  tenant_id: string
  status: CampaignStatus | Deleted
}

export interface TemplateStatesTable {
  template_id: string
  tenant_id: string
  status: TemplateStatus | Deleted
}

export interface ConversationStatesTable {
  conversation_id: string
  tenant_id: string
  status: ConversationStatus
  /** the contact has replied at least once */
  replied: boolean
}

export interface MessageStatesTable {
  message_id: string
  tenant_id: string
  channel: string
  status: MessageStatus
  /** the provider accepted it (messageSent) */
  accepted: boolean
}

export interface AnalyticsOverviewTables {
  tenant_counts: TenantCountsTable
  message_counts: MessageCountsTable
  contact_states: ContactStatesTable
  campaign_states: CampaignStatesTable
  template_states: TemplateStatesTable
  conversation_states: ConversationStatesTable
  message_states: MessageStatesTable
}

// ---- per-entity state, moved between counters ----

interface EntityKind<Row, Counters extends Record<string, number>> {
  table: keyof AnalyticsOverviewTables & string
  id: keyof Row & string
  /** the counter row an entity counts in */
  keyOf(row: Row): Record<string, string>
  /** what an entity in this state adds to its counter row */
  countsOf(row: Row): Partial<Counters>
}

/**
 * One batch's view of one kind of entity: the states stored before the batch, the states the
 * batch's events lead to, and, on save, one counter move per touched entity and one write per row.
 */
class EntityStates<Row extends object, Counters extends Record<string, number>> {
  readonly #kind: EntityKind<Row, Counters>
  readonly #stored = new Map<string, Row>()
  readonly #current = new Map<string, Row>()
  readonly #touched = new Set<string>()

  constructor(kind: EntityKind<Row, Counters>) {
    this.#kind = kind
  }

  async load(trx: Transaction<any>, ids: Iterable<string>): Promise<void> {
    const wanted = [...new Set(ids)]
    if (wanted.length === 0) return
    const rows = (await trx
      .selectFrom(this.#kind.table)
      .selectAll()
      .where(sql<boolean>`${sql.ref(this.#kind.id)} = any(${wanted}::uuid[])`)
      .execute()) as Row[]
    for (const row of rows) {
      const id = row[this.#kind.id] as unknown as string
      this.#stored.set(id, row)
      this.#current.set(id, row)
    }
  }

  get(id: string): Row | undefined {
    return this.#current.get(id)
  }

  set(row: Row): void {
    const id = row[this.#kind.id] as unknown as string
    this.#current.set(id, row)
    this.#touched.add(id)
  }

  /** Moves each touched entity's counts from its stored state to its new one; writes the rows. */
  async save(trx: Transaction<any>, counters: CounterBatch<Counters>): Promise<void> {
    const rows: Row[] = []
    for (const id of this.#touched) {
      const before = this.#stored.get(id)
      const after = this.#current.get(id)!
      if (before) {
        const negated = Object.fromEntries(Object.entries(this.#kind.countsOf(before)).map(([name, value]) => [name, -(value as number)]))
        counters.add(this.#kind.keyOf(before), negated as Partial<Counters>)
      }
      // added even when nothing changes, so a counter row exists exactly when an entity of its key was ever seen
      counters.add(this.#kind.keyOf(after), this.#kind.countsOf(after))
      rows.push(after)
    }
    await upsertRows(trx, this.#kind.table, [this.#kind.id], rows as Record<string, unknown>[])
  }
}

const one = (condition: boolean): number => (condition ? 1 : 0)

const tenantKey = (row: { tenant_id: string }) => ({ tenant_id: row.tenant_id })

const contactKind: EntityKind<ContactStatesTable, TenantCounters> = {
  table: 'contact_states',
  id: 'contact_id',
  keyOf: tenantKey,
  countsOf: (row) =>
    row.deleted
      ? { contacts_deleted: 1 }
      : {
          contacts_total: 1,
          contacts_active: one(row.is_active),
          contacts_opted_in: one(row.consent === 'opted_in'),
          contacts_opted_out: one(row.consent === 'opted_out'),
        },
}

const campaignKind: EntityKind<CampaignStatesTable, TenantCounters> = {
  table: 'campaign_states',
  id: 'campaign_id',
  keyOf: tenantKey,
  countsOf: (row) => (row.status === DELETED ? {} : { [`campaigns_${row.status}`]: 1 }),
}

const templateKind: EntityKind<TemplateStatesTable, TenantCounters> = {
  table: 'template_states',
  id: 'template_id',
  keyOf: tenantKey,
  countsOf: (row) => (row.status === DELETED ? {} : { [`templates_${row.status}`]: 1 }),
}

const conversationKind: EntityKind<ConversationStatesTable, TenantCounters> = {
  table: 'conversation_states',
  id: 'conversation_id',
  keyOf: tenantKey,
  countsOf: (row) => ({ [`conversations_${row.status}`]: 1, conversations_replied: one(row.replied) }),
}

const messageKind: EntityKind<MessageStatesTable, MessageCounters> = {
  table: 'message_states',
  id: 'message_id',
  keyOf: (row) => ({ tenant_id: row.tenant_id, channel: row.channel }),
  countsOf: (row) => ({ [row.status]: 1, accepted: one(row.accepted) }),
}

function applyContact(states: EntityStates<ContactStatesTable, TenantCounters>, event: ContactEvent): void {
  const { contactId, tenantId } = event.data
  const row = states.get(contactId)
  switch (event.type) {
    case 'contactCreated':
      states.set({ contact_id: contactId, tenant_id: tenantId, is_active: event.data.profile.isActive, consent: 'none', deleted: false })
      return
    case 'contactUpdated':
      if (row) states.set({ ...row, is_active: event.data.profile.isActive })
      return
    case 'contactOptedIn':
      if (row) states.set({ ...row, consent: 'opted_in' })
      return
    case 'contactOptedOut':
      if (row) states.set({ ...row, consent: 'opted_out' })
      return
    case 'contactDeleted':
      if (row) states.set({ ...row, deleted: true })
      return
  }
}

async function handle(events: readonly RecordedEvent[], trx: Transaction<any>): Promise<void> {
  const typed = events.map((event) => narrow<HandledEvent>(event))
  const contacts = new EntityStates(contactKind)
  const campaigns = new EntityStates(campaignKind)
  const templates = new EntityStates(templateKind)
  const conversations = new EntityStates(conversationKind)
  const messages = new EntityStates(messageKind)

  // load the stored state of every entity the batch touches, one query per kind
  const ids = { contacts: [] as string[], campaigns: [] as string[], templates: [] as string[], conversations: [] as string[], messages: [] as string[] }
  for (const event of typed) {
    if (isMessageEvent(event)) {
      ids.messages.push(event.data.messageId)
      if (event.type === 'inboundMessageReceived' && event.data.conversationId) ids.conversations.push(event.data.conversationId)
    } else if (isCampaignEvent(event)) ids.campaigns.push(event.data.campaignId)
    else if (isTemplateEvent(event)) ids.templates.push(event.data.templateId)
    else if (isConversationEvent(event)) ids.conversations.push(event.data.conversationId)
    else ids.contacts.push(event.data.contactId)
  }
  await contacts.load(trx, ids.contacts)
  await campaigns.load(trx, ids.campaigns)
  await templates.load(trx, ids.templates)
  await conversations.load(trx, ids.conversations)
  await messages.load(trx, ids.messages)

  for (const event of typed) {
    if (isMessageEvent(event)) {
      const { messageId, tenantId } = event.data
      const status = statusAfter<MessageEvent, MessageStatus>(MESSAGE_STATUS_AFTER, event)
      if (event.type === 'outboundMessageQueued' || event.type === 'inboundMessageReceived') {
        messages.set({ message_id: messageId, tenant_id: tenantId, channel: event.data.channel, status, accepted: false })
      } else {
        const row = messages.get(messageId)
        if (row) messages.set({ ...row, status, accepted: row.accepted || event.type === 'messageSent' })
      }
      if (event.type === 'inboundMessageReceived' && event.data.conversationId) {
        const conversation = conversations.get(event.data.conversationId)
        if (conversation && !conversation.replied) conversations.set({ ...conversation, replied: true })
      }
    } else if (isCampaignEvent(event)) {
      campaigns.set({ campaign_id: event.data.campaignId, tenant_id: event.data.tenantId, status: statusAfter<CampaignStatusEvent, CampaignStatus | Deleted>(CAMPAIGN_STATUS_AFTER, event) })
    } else if (isTemplateEvent(event)) {
      templates.set({ template_id: event.data.templateId, tenant_id: event.data.tenantId, status: statusAfter<TemplateStatusEvent, TemplateStatus | Deleted>(TEMPLATE_STATUS_AFTER, event) })
    } else if (isConversationEvent(event)) {
      const { conversationId, tenantId } = event.data
      const replied = conversations.get(conversationId)?.replied ?? false
      conversations.set({ conversation_id: conversationId, tenant_id: tenantId, status: statusAfter<ConversationStatusEvent, ConversationStatus>(CONVERSATION_STATUS_AFTER, event), replied })
    } else {
      applyContact(contacts, event)
    }
  }

  const tenantCounts = new CounterBatch(zeroTenant)
  const messageCounts = new CounterBatch(zeroMessages)
  await contacts.save(trx, tenantCounts)
  await campaigns.save(trx, tenantCounts)
  await templates.save(trx, tenantCounts)
  await conversations.save(trx, tenantCounts)
  await messages.save(trx, messageCounts)
  await addToCounters(trx, 'tenant_counts', ['tenant_id'], tenantCounts.rows())
  await addToCounters(trx, 'message_counts', ['tenant_id', 'channel'], messageCounts.rows())
}

export const analyticsOverview: Projection = {
  kind: 'projection',
  name: 'analytics_overview',
  version: 2,
  eventTypes,
  async createTables(db) {
    let tenantCounts = db.schema.createTable('tenant_counts').addColumn('tenant_id', 'uuid', (c) => c.primaryKey())
    for (const column of TENANT_COUNTERS) tenantCounts = tenantCounts.addColumn(column, 'integer', (c) => c.notNull())
    await tenantCounts.execute()

    let messageCounts = db.schema.createTable('message_counts').addColumn('tenant_id', 'uuid', (c) => c.notNull()).addColumn('channel', 'text', (c) => c.notNull())
    for (const column of MESSAGE_COUNTERS) messageCounts = messageCounts.addColumn(column, 'integer', (c) => c.notNull())
    await messageCounts.addPrimaryKeyConstraint('message_counts_pkey', ['tenant_id', 'channel']).execute()

    await db.schema
      .createTable('contact_states')
      .addColumn('contact_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('is_active', 'boolean', (c) => c.notNull())
      .addColumn('consent', 'text', (c) => c.notNull())
      .addColumn('deleted', 'boolean', (c) => c.notNull())
      .execute()
    for (const [table, id] of [
      ['campaign_states', 'campaign_id'],
      ['template_states', 'template_id'],
    ] as const) {
      await db.schema
        .createTable(table)
        .addColumn(id, 'uuid', (c) => c.primaryKey())
        .addColumn('tenant_id', 'uuid', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .execute()
    }
    await db.schema
      .createTable('conversation_states')
      .addColumn('conversation_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('replied', 'boolean', (c) => c.notNull())
      .execute()
    await db.schema
      .createTable('message_states')
      .addColumn('message_id', 'uuid', (c) => c.primaryKey())
      .addColumn('tenant_id', 'uuid', (c) => c.notNull())
      .addColumn('channel', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('accepted', 'boolean', (c) => c.notNull())
      .execute()
  },
  handle,
}

// ---- queries ----

const percent = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0)

export type MessageStatusCounts = Record<MessageStatus, number>

const statusesOf = (counts: MessageCounters): MessageStatusCounts =>
  Object.fromEntries(MESSAGE_STATUSES.map((status) => [status, counts[status]])) as MessageStatusCounts

/** Message counts by status for one channel, or all channels. */
export async function messageStatusCounts(db: Kysely<AnalyticsOverviewTables>, tenantId: string, channel?: Channel): Promise<MessageStatusCounts> {
  let query = db.selectFrom('message_counts').selectAll().where('tenant_id', '=', tenantId)
  if (channel) query = query.where('channel', '=', channel)
  const rows = await query.execute()
  const total = { ...zeroMessages }
  for (const row of rows) for (const status of MESSAGE_STATUSES) total[status] += Number(row[status])
  return statusesOf(total)
}

/** Outbound messages: every status but `received`. */
export const outboundOf = (counts: MessageStatusCounts): number =>
  counts.queued + counts.sent + counts.delivered + counts.read + counts.failed + counts.cancelled

/** Outbound messages that reached the handset: delivered, or delivered and then read. */
export const deliveredOf = (counts: MessageStatusCounts): number => counts.delivered + counts.read

export interface AnalyticsOverview {
  contacts: { total: number; active: number; inactive: number; opted_in: number; opted_out: number; deleted: number }
  campaigns: { total: number; by_status: Record<CampaignStatus, number> }
  messages: {
    total: number
    outbound: number
    inbound: number
    by_status: MessageStatusCounts
    by_channel: Record<Channel, { outbound: number; inbound: number }>
  }
  conversations: { total: number; open: number; closed: number; replied: number }
  templates: { total: number; by_status: Record<TemplateStatus, number> }
  rates: { delivery_rate: number; read_rate: number; failure_rate: number; response_rate: number; opt_in_rate: number }
}

const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0)

/**
 * The tenant's totals. Rates are in %, one decimal, 0 when their base is 0:
 * - delivery_rate: messages delivered (or read) ÷ messages sent (accepted by the provider: messageSent);
 * - read_rate: messages read ÷ messages delivered (a read message counts as delivered);
 * - failure_rate: outbound messages failed ÷ outbound messages;
 * - response_rate: conversations with at least one reply ÷ conversations;
 * - opt_in_rate: contacts opted in ÷ contacts (deleted contacts excluded).
 */
export async function analyticsOverviewFor(db: Kysely<AnalyticsOverviewTables>, tenantId: string): Promise<AnalyticsOverview> {
  const [tenantRow, messageRows] = await Promise.all([
    db.selectFrom('tenant_counts').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst(),
    db.selectFrom('message_counts').selectAll().where('tenant_id', '=', tenantId).execute(),
  ])
  const counts = { ...zeroTenant }
  if (tenantRow) for (const name of TENANT_COUNTERS) counts[name] = Number(tenantRow[name])

  const all = { ...zeroMessages }
  const byChannel = Object.fromEntries(CHANNELS.map((channel) => [channel, { outbound: 0, inbound: 0 }])) as AnalyticsOverview['messages']['by_channel']
  for (const row of messageRows) {
    const channelCounts = { ...zeroMessages }
    for (const counter of MESSAGE_COUNTERS) {
      channelCounts[counter] = Number(row[counter])
      all[counter] += channelCounts[counter]
    }
    if (isIn(byChannel, row.channel)) byChannel[row.channel] = { outbound: outboundOf(statusesOf(channelCounts)), inbound: channelCounts.received }
  }
  const byStatus = statusesOf(all)
  const outbound = outboundOf(byStatus)
  const delivered = deliveredOf(byStatus)

  const campaignsByStatus = Object.fromEntries(CAMPAIGN_STATUSES.map((status) => [status, counts[`campaigns_${status}`]])) as Record<CampaignStatus, number>
  const templatesByStatus = Object.fromEntries(TEMPLATE_STATUSES.map((status) => [status, counts[`templates_${status}`]])) as Record<TemplateStatus, number>
  const conversationsTotal = counts.conversations_open + counts.conversations_closed

  return {
    contacts: {
      total: counts.contacts_total,
      active: counts.contacts_active,
      inactive: counts.contacts_total - counts.contacts_active,
      opted_in: counts.contacts_opted_in,
      opted_out: counts.contacts_opted_out,
      deleted: counts.contacts_deleted,
    },
    campaigns: { total: sum(Object.values(campaignsByStatus)), by_status: campaignsByStatus },
    messages: { total: outbound + byStatus.received, outbound, inbound: byStatus.received, by_status: byStatus, by_channel: byChannel },
    conversations: { total: conversationsTotal, open: counts.conversations_open, closed: counts.conversations_closed, replied: counts.conversations_replied },
    templates: { total: sum(Object.values(templatesByStatus)), by_status: templatesByStatus },
    rates: {
      delivery_rate: percent(delivered, all.accepted),
      read_rate: percent(byStatus.read, delivered),
      failure_rate: percent(byStatus.failed, outbound),
      response_rate: percent(counts.conversations_replied, conversationsTotal),
      opt_in_rate: percent(counts.contacts_opted_in, counts.contacts_total),
    },
  }
}
