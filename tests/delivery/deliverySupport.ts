import { randomBytes } from 'node:crypto'
import { sql } from 'kysely'
import { unwiredDeliveryReportSink, type Services } from '../../app.ts'
import { systemJobContext } from '../../commands/commandContext.ts'
import { recordMessageStatus } from '../../commands/messages/messageCommands.ts'
import { systemClock } from '../../infra/clock.ts'
import { SmsSimulator } from '../../infra/sms/smsSimulator.ts'
import type { DeliveryReport } from '../../infra/sms/smsProvider.ts'
import { topUpCredits } from '../support/credits.ts'
import { eventually } from '../support/eventually.ts'
import { MessagingClient } from '../support/messagingFixtures.ts'
import { registerUser, startTestApp, type TestApp } from '../support/testApp.ts'
import { redisUrl } from '../support/testDatabase.ts'

/**
 * What the delivery-pipeline tests share: the whole service with its send workers on, the seeded
 * simulator as the provider (small delays), a tenant with credits and opted-in contacts, and
 * readers of the event log that tell what happened to every message.
 */

interface Teardown {
  teardown(fn: () => Promise<void> | void): void
}

export interface DeliveryApp extends TestApp {
  client: MessagingClient
  tenantId: string
  /** the provider (the simulator unless a test configures another) */
  simulator: SmsSimulator
  prefix: string
}

export interface DeliveryAppOptions {
  label: string
  /** BullMQ on the test Redis (default), or the in-process queues */
  redis?: boolean
  env?: Record<string, string>
}

export function queuePrefix(label: string): string {
  return `test-delivery-${label}-${randomBytes(4).toString('hex')}`
}

export async function startDeliveryApp(t: Teardown, options: DeliveryAppOptions): Promise<DeliveryApp> {
  const redis = options.redis ?? true
  const prefix = queuePrefix(options.label)
  // (the app's teardown removes the queues' Redis keys once its workers and queues are closed)
  const started = await startTestApp(t, {
    label: options.label,
    // queue delays, report delays and scheduled times are real time
    clock: systemClock,
    env: {
      DELIVERY_WORKERS: 'true',
      ...(redis ? { REDIS_URL: redisUrl } : {}),
      QUEUE_PREFIX: prefix,
      SIMULATOR_SEED: 'delivery-tests',
      SIMULATOR_MIN_DELAY_MS: '20',
      SIMULATOR_MAX_DELAY_MS: '150',
      SIMULATOR_DELIVERY_RATE: '0.9',
      SIMULATOR_REJECTION_RATE: '0.03',
      SIMULATOR_READ_RATE: '0.3',
      PROVIDER_MAX_PER_SECOND: '5000',
      SEND_CONCURRENCY: '50',
      SEND_BACKOFF_MS: '100',
      ...options.env,
    },
  })
  const { services, app } = started
  if (!(services.provider instanceof SmsSimulator) && !options.env?.SMS_PROVIDER) throw new Error('the delivery tests run on the simulator')
  ensureReportsRecorded(services)
  const session = await registerUser(app)
  await topUpCredits(services, session.tenantId, 100_000)
  return { ...started, client: new MessagingClient(app, session), tenantId: session.tenantId, simulator: services.provider as SmsSimulator, prefix }
}

/**
 * The simulator's reports travel the delivery-report route once the app wires it; until then (or
 * in a build without that route) they are recorded straight through the message command.
 */
export function ensureReportsRecorded(services: Services): void {
  if (services.deliveryReportSink !== unwiredDeliveryReportSink) return
  services.deliveryReportSink = async (tenantId, given) => {
    const context = systemJobContext(tenantId, services.clock.now())
    for (const report of Array.isArray(given) ? given : [given as DeliveryReport]) {
      const status =
        report.status === 'failed'
          ? ({ status: 'failed', reason: report.reason ?? 'failed', providerMessageId: report.provider_message_id } as const)
          : ({ status: report.status, providerMessageId: report.provider_message_id } as const)
      await recordMessageStatus(services.store, context, report.reference, status).catch(() => undefined)
    }
  }
}

/** Imports `count` opted-in contacts tagged `tag` in one bulk import; answers their ids. */
export async function importContacts(client: MessagingClient, count: number, tag: string, firstNumber = 0): Promise<string[]> {
  const rows = Array.from({ length: count }, (_, i) => ({
    name: `Recipient ${firstNumber + i}`,
    phone_e164: `+255712${String(firstNumber + i).padStart(6, '0')}`,
    is_opted_in: true,
    tags: [tag],
  }))
  const response = await client.post('/api/messaging/contacts/bulk-import/', rows)
  if (response.data.created !== count) throw new Error(`bulk import: ${JSON.stringify(response.data).slice(0, 500)}`)
  return (response.data.results as { contact_id: string }[]).map((row) => row.contact_id)
}

/** Creates a campaign for the opted-in contacts tagged `tag`; answers its id. */
export async function createCampaign(client: MessagingClient, tag: string, extra: object = {}): Promise<string> {
  const response = await client.post('/api/messaging/campaigns/', {
    name: `Campaign ${tag}`,
    message_text: 'Habari! Our offer ends Friday.',
    target_criteria: { tags: [tag], opt_in_status: 'opted_in' },
    ...extra,
  })
  return response.data.id as string
}

export async function campaignOf(client: MessagingClient, campaignId: string): Promise<any> {
  return (await client.get(`/api/messaging/campaigns/${campaignId}/`)).data
}

/** Waits until the campaign has this status (as the campaign board shows it). */
export async function campaignReaches(client: MessagingClient, campaignId: string, status: string, timeoutMs = 60_000): Promise<any> {
  return eventually(
    () => campaignOf(client, campaignId),
    (campaign) => campaign.status === status,
    timeoutMs,
  )
}

export interface MessageFates {
  /** every message of the campaign, by id: its events' types in order */
  events: Map<string, string[]>
  /** messages with more than one messageSent */
  sentTwice: string[]
  sent: number
  delivered: number
  failed: number
  cancelled: number
  /** messages with no final outcome (delivered, failed or cancelled) */
  unfinished: string[]
}

const FINAL = new Set(['messageDelivered', 'messageFailed', 'messageCancelled'])

/** What the event log says happened to each message of a campaign. */
export async function messageFates(services: Services, campaignId: string): Promise<MessageFates> {
  const { rows } = await sql<{ message_id: string; event_type: string }>`
    select data->>'messageId' as message_id, event_type from es_events
     where category = 'message' and data->>'campaignId' = ${campaignId}
     order by position`.execute(services.database.db)
  const events = new Map<string, string[]>()
  for (const row of rows) events.set(row.message_id, [...(events.get(row.message_id) ?? []), row.event_type])
  const count = (type: string) => [...events.values()].filter((types) => types.includes(type)).length
  return {
    events,
    sentTwice: [...events].filter(([, types]) => types.filter((type) => type === 'messageSent').length > 1).map(([id]) => id),
    sent: count('messageSent'),
    delivered: count('messageDelivered'),
    failed: count('messageFailed'),
    cancelled: count('messageCancelled'),
    unfinished: [...events].filter(([, types]) => !types.some((type) => FINAL.has(type))).map(([id]) => id),
  }
}
