import type { AppendRequest, EventMetadata, ExpectedVersion, NewEvent } from '../../infra/eventStore/eventStore.ts'
import type { DomainEvent } from '../../commands/decider.ts'
import { fold } from '../../commands/decider.ts'
import { eventVersions } from '../../commands/eventVersions.ts'
import type { ContactEvent, ContactKeyEvent, ContactProfile } from '../../commands/contacts/contactEvents.ts'
import { contactKeyStream, contactStream } from '../../commands/contacts/contactCommands.ts'
import type { MessageEvent } from '../../commands/messages/messageEvents.ts'
import { messageStream } from '../../commands/messages/messageCommands.ts'
import type { ConversationEvent } from '../../commands/conversations/conversationEvents.ts'
import { conversationStream } from '../../commands/conversations/conversationCommands.ts'
import type { CampaignEvent } from '../../commands/campaigns/campaignEvents.ts'
import { RECIPIENT_CHUNK_SIZE } from '../../commands/campaigns/campaignEvents.ts'
import { campaignStream } from '../../commands/campaigns/campaignCommands.ts'
import type { TemplateEvent } from '../../commands/templates/templateEvents.ts'
import { templateStream } from '../../commands/templates/templateCommands.ts'
import type { SegmentEvent, SegmentNameEvent } from '../../commands/segments/segmentEvents.ts'
import { segmentNameKey, segmentNameStream, segmentStream } from '../../commands/segments/segmentCommands.ts'
import type { TenantEvent } from '../../commands/tenants/tenantEvents.ts'
import { tenantDecider } from '../../commands/tenants/tenantDecider.ts'
import { tenantStream } from '../../commands/tenants/tenantCommands.ts'
import { userDecider } from '../../commands/users/userDecider.ts'
import { userStream } from '../../commands/users/registration.ts'
import { SeededRandom } from './seededRandom.ts'

/**
 * The event history of a messaging platform, generated from a seed: tenants with their admins and
 * members, contacts created one by one and in bulk imports (with the phone and email claims the
 * real commands append beside them), templates submitted and approved, segments, conversations
 * with inbound replies and answers, and campaigns with their recipients, each message queued, sent
 * and reported (delivered, read, failed). Events carry exactly the data the commands record, and
 * their times (`data.at`, `metadata.occurredAt`) are spread over the 18 months before `endsAt`.
 *
 * Each tenant's history is a list of activities sorted by time; an activity becomes one or more
 * commands, each command being the atomic append the real command would make.
 */

export const HISTORY_DAYS = 548

const HOUR = 3_600_000
const DAY = 24 * HOUR

export interface HistoryOptions {
  seed: number
  /** about this many events in all (the plan is sized from it; the count written is reported) */
  events: number
  tenants: number
  /** the last moment of the history (activities end before it) */
  endsAt: Date
}

export interface TenantPlan {
  index: number
  tenantId: string
  name: string
  timezone: string
  /** events this tenant's history is planned to hold */
  budget: number
  startsAt: number
  admin: { userId: string; email: string; firstName: string; lastName: string }
}

/** one command's appends: streams that commit together, in the order the command appends them */
export type Command = AppendRequest[]

const ZONES = ['Africa/Dar_es_Salaam', 'Africa/Dar_es_Salaam', 'Africa/Nairobi', 'Africa/Kampala', 'Africa/Lagos']
const FIRST_NAMES = ['Amina', 'John', 'Sarah', 'David', 'Grace', 'Peter', 'Neema', 'Joseph', 'Halima', 'Baraka', 'Rehema', 'Emmanuel', 'Zawadi', 'Daniel', 'Fatuma', 'Michael']
const LAST_NAMES = ['Mwangi', 'Kamau', 'Ochieng', 'Mushi', 'Njoroge', 'Achieng', 'Mollel', 'Wanjiku', 'Otieno', 'Massawe', 'Kimaro', 'Okello']
const TAGS = ['vip', 'retail', 'wholesale', 'newsletter', 'dar', 'arusha', 'mwanza', 'loyalty', 'lead', 'staff']
const CATEGORIES = ['marketing', 'transactional', 'onboarding', 'reminder']
const FAILURES = ['Invalid number', 'Handset unreachable', 'Rejected by operator', 'Expired']

/** Splits the events among tenants: the first holds a quarter, the others a long tail. */
export function planTenants(options: HistoryOptions): TenantPlan[] {
  const random = new SeededRandom(options.seed)
  const end = options.endsAt.getTime()
  const historyStart = end - HISTORY_DAYS * DAY
  const others = options.tenants - 1
  const weights = Array.from({ length: others }, (_, i) => 1 / Math.pow(i + 1, 0.8))
  const weightSum = weights.reduce((a, b) => a + b, 0)
  const plans: TenantPlan[] = []
  for (let index = 0; index < options.tenants; index++) {
    const budget = index === 0 || others === 0 ? Math.round(options.events * (others === 0 ? 1 : 0.25)) : Math.round((options.events * 0.75 * weights[index - 1]!) / weightSum)
    const tenantRandom = random.fork(index + 1)
    // the largest tenant has been here all along; the others joined during the first year
    const startsAt = index === 0 ? historyStart : historyStart + Math.floor(Math.pow(tenantRandom.next(), 2) * 365 * DAY)
    const firstName = tenantRandom.pick(FIRST_NAMES)
    const lastName = tenantRandom.pick(LAST_NAMES)
    plans.push({
      index,
      tenantId: entityId(options.seed, KIND.tenant, index, 0),
      name: index === 0 ? 'Kilimanjaro Coffee Exports' : `${lastName} ${tenantRandom.pick(['Traders', 'Pharmacy', 'Academy', 'Logistics', 'Foods', 'Clinic', 'Motors'])} ${index}`,
      timezone: index === 0 ? 'Africa/Dar_es_Salaam' : tenantRandom.pick(ZONES),
      budget,
      startsAt,
      admin: { userId: entityId(options.seed, KIND.user, index, 0), email: `admin${index}@tenant${index}.bench.mifumo.test`, firstName, lastName },
    })
  }
  return plans
}

/** Kinds of ids, so every id of the history is distinct and derived from the seed. */
const KIND = { tenant: 1, user: 2, contact: 3, template: 4, segment: 5, campaign: 6, message: 7, conversation: 8, event: 9, correlation: 10, importBatch: 11 } as const

function entityId(seed: number, kind: number, tenant: number, n: number): string {
  const s = (seed >>> 0).toString(16).padStart(8, '0')
  const k = kind.toString(16).padStart(4, '0')
  const t = tenant.toString(16).padStart(3, '0')
  const high = Math.floor(n / 0x1000000000000)
  const low = n % 0x1000000000000
  return `${s}-${k}-5${t}-8${high.toString(16).padStart(3, '0')}-${low.toString(16).padStart(12, '0')}`
}

interface Contact {
  contactId: string
  name: string
  phone: string
  version: number
  optedOut: boolean
}

type Activity =
  | { at: number; kind: 'contact' }
  | { at: number; kind: 'import'; size: number }
  | { at: number; kind: 'template' }
  | { at: number; kind: 'segment' }
  | { at: number; kind: 'conversation'; exchanges: number; closes: boolean }
  | { at: number; kind: 'optOut' }
  | { at: number; kind: 'update' }
  | { at: number; kind: 'campaign'; slot: number; slots: number }
  | { at: number; kind: 'member'; n: number }

/** events a campaign recipient costs on average (queued, sent, reports) */
const EVENTS_PER_RECIPIENT = 3.0

/**
 * One tenant's history, command by command, in time order. `emit` appends (or batches) a command;
 * the generator awaits it, so memory holds one tenant's contacts and the command at hand.
 */
export async function generateTenantHistory(seed: number, plan: TenantPlan, endsAt: Date, emit: (command: Command) => Promise<void>): Promise<number> {
  const random = new SeededRandom(seed).fork(0x51ed + plan.index)
  const end = endsAt.getTime() - 3 * HOUR
  const span = end - plan.startsAt
  const timeAt = (u: number): number => plan.startsAt + Math.floor(span * Math.pow(u, 0.7))
  // user 0 of each tenant is its admin (planTenants)
  const counters = new Map<number, number>([[KIND.user, 1]])
  const nextId = (kind: number): string => {
    const n = counters.get(kind) ?? 0
    counters.set(kind, n + 1)
    return entityId(seed, kind, plan.index, n)
  }
  let written = 0
  const admin = { userId: plan.admin.userId, name: `${plan.admin.firstName} ${plan.admin.lastName}` }
  const system = { userId: null, name: 'System' }
  const users: { userId: string; name: string }[] = [admin]

  const newEvents = (events: readonly DomainEvent[], at: number, actorUserId: string | null, correlationId: string): NewEvent[] => {
    const metadata: EventMetadata = {
      tenantId: plan.tenantId,
      userId: actorUserId,
      correlationId,
      causationId: null,
      ip: null,
      userAgent: null,
      occurredAt: new Date(at).toISOString(),
      schemaVersion: 1,
    }
    return events.map((event) => ({ id: nextId(KIND.event), type: event.type, data: event.data, metadata: { ...metadata, schemaVersion: eventVersions.currentVersion(event.type) } }))
  }
  const request = (stream: string, expected: ExpectedVersion, events: readonly DomainEvent[], at: number, actorUserId: string | null, correlationId = nextId(KIND.correlation)): AppendRequest => ({
    streamName: stream,
    expectedVersion: expected,
    events: newEvents(events, at, actorUserId, correlationId),
  })
  const send = async (command: Command): Promise<void> => {
    for (const r of command) written += r.events.length
    await emit(command)
  }
  const iso = (at: number): string => new Date(at).toISOString()
  // what happens later (a send, a report, a review) waits here until the history's clock passes
  // its time, so unrelated commands fill the appends in between
  const scheduled = new ScheduledCommands()
  const later = (at: number, command: Command): void => scheduled.add(at, command)
  const drainUntil = async (at: number): Promise<void> => {
    for (let next = scheduled.takeDue(at); next; next = scheduled.takeDue(at)) await send(next)
  }

  // the tenant and its admin, as registration appends them
  {
    const now = new Date(plan.startsAt)
    const userEvents = userDecider.decide({ type: 'registerUser', userId: admin.userId, email: plan.admin.email, firstName: plan.admin.firstName, lastName: plan.admin.lastName, now }, userDecider.initialState)
    const registered = fold(userDecider.evolve, userDecider.initialState, userEvents)
    const joinEvents = userDecider.decide({ type: 'joinTenant', tenantId: plan.tenantId, tenantName: plan.name, role: 'admin', now }, registered)
    const tenantEvents = tenantDecider.decide({ type: 'createTenant', tenantId: plan.tenantId, name: plan.name, timezone: plan.timezone, country: 'TZ', createdBy: admin, now }, tenantDecider.initialState)
    const correlation = nextId(KIND.correlation)
    await send([
      request(tenantStream(plan.tenantId), 'no_stream', tenantEvents, plan.startsAt, admin.userId, correlation),
      request(userStream(admin.userId), 'no_stream', [...userEvents, ...joinEvents], plan.startsAt, admin.userId, correlation),
    ])
  }
  let tenantVersion = 0

  // the plan: everything but campaigns has a known cost; campaigns spend what is left
  const budget = Math.max(0, plan.budget - 3)
  const activities: Activity[] = []
  let planned = 0
  const members = budget > 20_000 ? 3 : budget > 3_000 ? 1 : 0
  for (let n = 0; n < members; n++) {
    activities.push({ at: timeAt(random.next() * 0.1), kind: 'member', n })
    planned += 3
  }
  const templates = Math.min(25, Math.max(1, Math.round(budget / 15_000)))
  for (let n = 0; n < templates; n++) activities.push({ at: timeAt(random.next()), kind: 'template' })
  planned += templates * 3
  const segments = Math.min(10, Math.round(budget / 30_000))
  for (let n = 0; n < segments; n++) activities.push({ at: timeAt(random.next()), kind: 'segment' })
  planned += segments * 3
  const contacts = Math.max(8, Math.round(budget * 0.07))
  let toPlace = contacts
  // a first import early on, then single contacts and imports of every size
  const firstImport = Math.max(1, Math.round(contacts * 0.3))
  activities.push({ at: timeAt(random.next() * 0.02), kind: 'import', size: firstImport })
  toPlace -= firstImport
  while (toPlace > 0) {
    if (random.chance(0.9) || toPlace < 20) {
      activities.push({ at: timeAt(random.next()), kind: 'contact' })
      toPlace -= 1
    } else {
      const size = Math.min(toPlace, Math.round(Math.exp(Math.log(20) + random.next() * (Math.log(3000) - Math.log(20)))))
      activities.push({ at: timeAt(random.next()), kind: 'import', size })
      toPlace -= size
    }
  }
  planned += Math.round(contacts * 2.3)
  const optOuts = Math.round(contacts * 0.02)
  for (let n = 0; n < optOuts; n++) activities.push({ at: timeAt(0.1 + random.next() * 0.9), kind: 'optOut' })
  const updates = Math.round(contacts * 0.03)
  for (let n = 0; n < updates; n++) activities.push({ at: timeAt(0.1 + random.next() * 0.9), kind: 'update' })
  planned += optOuts + updates
  const conversations = Math.max(1, Math.round((budget * 0.1) / 9))
  for (let n = 0; n < conversations; n++) {
    const exchanges = random.int(1, 3)
    const closes = random.chance(0.6)
    activities.push({ at: timeAt(0.05 + random.next() * 0.95), kind: 'conversation', exchanges, closes })
    planned += 1 + exchanges * 4 + (closes ? 1 : 0)
  }
  let campaignBudget = Math.max(0, budget - planned)
  // each campaign reaches about 40% of the contacts
  const slots = Math.min(400, Math.max(1, Math.round(campaignBudget / (EVENTS_PER_RECIPIENT * contacts * 0.4 + 4))))
  for (let slot = 0; slot < slots; slot++) activities.push({ at: timeAt(0.08 + ((slot + random.next()) / slots) * 0.92), kind: 'campaign', slot, slots })
  activities.sort((a, b) => a.at - b.at)

  const known: Contact[] = []
  const templateIds: string[] = []
  let phoneCounter = 0

  const newContact = (at: number, source: 'api' | 'bulk_import', importId: string | null): Command => {
    const contactId = nextId(KIND.contact)
    const firstName = random.pick(FIRST_NAMES)
    const lastName = random.pick(LAST_NAMES)
    const name = `${firstName} ${lastName}`
    const phone = `+2557${String((plan.index * 3_700_000 + phoneCounter++ * 7 + 10_000_000) % 100_000_000).padStart(8, '0')}`
    const email = random.chance(0.3) ? `${firstName}.${lastName}.${phoneCounter}@mail.bench.mifumo.test`.toLowerCase() : null
    const tags = random.chance(0.6) ? [random.pick(TAGS)] : []
    const profile: ContactProfile = { name, phone, email, tags, attributes: random.chance(0.3) ? { city: random.pick(['Dar es Salaam', 'Arusha', 'Mwanza', 'Dodoma']) } : {}, isActive: true }
    const created: ContactEvent = { type: 'contactCreated', data: { contactId, tenantId: plan.tenantId, profile, source, importId, at: iso(at) } }
    known.push({ contactId, name, phone, version: 0, optedOut: false })
    const correlation = nextId(KIND.correlation)
    const claims: AppendRequest[] = [
      request(contactKeyStream('phone', plan.tenantId, phone), 'no_stream', [{ type: 'contactKeyClaimed', data: { key: phone, kind: 'phone', contactId } } satisfies ContactKeyEvent], at, admin.userId, correlation),
    ]
    if (email) claims.push(request(contactKeyStream('email', plan.tenantId, email), 'no_stream', [{ type: 'contactKeyClaimed', data: { key: email, kind: 'email', contactId } } satisfies ContactKeyEvent], at, admin.userId, correlation))
    return [request(contactStream(contactId), 'no_stream', [created], at, admin.userId, correlation), ...claims]
  }

  /** a message's appends, phase by phase: queued, then sent (or failed), then its report */
  const messageLifecycle = (at: number, contact: Contact, refs: { conversationId: string | null; campaignId: string | null }, content: string, sentBy: { userId: string | null; name: string }, outcome: 'delivered' | 'read' | 'failed' | 'sent' | 'undeliverable' | 'cancelled', messageId = nextId(KIND.message)): AppendRequest[] => {
    const base = { messageId, tenantId: plan.tenantId, conversationId: refs.conversationId, campaignId: refs.campaignId }
    const stream = messageStream(messageId)
    const queued: MessageEvent = { type: 'outboundMessageQueued', data: { ...base, contactId: contact.contactId, to: contact.phone, channel: 'sms', content, sentBy, at: iso(at) } }
    const phases: AppendRequest[] = [request(stream, 'no_stream', [queued], at, sentBy.userId)]
    const sentAt = at + random.int(200, 5_000)
    if (outcome === 'cancelled') {
      phases.push(request(stream, 0, [{ type: 'messageCancelled', data: { ...base, reason: 'campaign_cancelled', at: iso(sentAt) } } satisfies MessageEvent], sentAt, null))
      return phases
    }
    if (outcome === 'undeliverable') {
      phases.push(request(stream, 0, [{ type: 'messageFailed', data: { ...base, reason: random.pick(FAILURES), at: iso(sentAt) } } satisfies MessageEvent], sentAt, null))
      return phases
    }
    phases.push(request(stream, 0, [{ type: 'messageSent', data: { ...base, providerMessageId: `sim-${messageId.slice(-12)}`, at: iso(sentAt) } } satisfies MessageEvent], sentAt, null))
    if (outcome === 'sent') return phases
    const reportAt = sentAt + random.int(1_000, 120_000)
    if (outcome === 'failed') {
      phases.push(request(stream, 1, [{ type: 'messageFailed', data: { ...base, reason: random.pick(FAILURES), at: iso(reportAt) } } satisfies MessageEvent], reportAt, null))
      return phases
    }
    phases.push(request(stream, 1, [{ type: 'messageDelivered', data: { ...base, at: iso(reportAt) } } satisfies MessageEvent], reportAt, null))
    if (outcome === 'read') {
      const readAt = reportAt + random.int(10_000, 3_600_000)
      phases.push(request(stream, 2, [{ type: 'messageRead', data: { ...base, at: iso(readAt) } } satisfies MessageEvent], readAt, null))
    }
    return phases
  }

  const outcomeOf = (whatsapp: boolean): 'delivered' | 'read' | 'failed' | 'sent' | 'undeliverable' => {
    const u = random.next()
    if (u < 0.03) return 'undeliverable'
    if (u < 0.07) return 'failed'
    if (u < 0.12) return 'sent'
    return whatsapp && random.chance(0.6) ? 'read' : 'delivered'
  }

  for (const activity of activities) {
    const at = activity.at
    await drainUntil(at)
    switch (activity.kind) {
      case 'member': {
        const userId = nextId(KIND.user)
        const firstName = random.pick(FIRST_NAMES)
        const lastName = random.pick(LAST_NAMES)
        const email = `member${activity.n}.${plan.index}@tenant${plan.index}.bench.mifumo.test`
        const now = new Date(at)
        const userEvents = userDecider.decide({ type: 'registerUser', userId, email, firstName, lastName, now }, userDecider.initialState)
        const registered = fold(userDecider.evolve, userDecider.initialState, userEvents)
        const role = activity.n === 0 ? 'user' : 'agent'
        const joinEvents = userDecider.decide({ type: 'joinTenant', tenantId: plan.tenantId, tenantName: plan.name, role, now }, registered)
        const added: TenantEvent = { type: 'tenantMemberAdded', data: { tenantId: plan.tenantId, tenantName: plan.name, userId, email, name: `${firstName} ${lastName}`, role, addedBy: admin, at: iso(at) } }
        const correlation = nextId(KIND.correlation)
        await send([request(userStream(userId), 'no_stream', [...userEvents, ...joinEvents], at, admin.userId, correlation), request(tenantStream(plan.tenantId), tenantVersion, [added], at, admin.userId, correlation)])
        tenantVersion += 1
        users.push({ userId, name: `${firstName} ${lastName}` })
        break
      }
      case 'contact':
        await send(newContact(at, 'api', null))
        break
      case 'import': {
        // the bulk import appends its new contacts 200 to an atomic append
        const importId = nextId(KIND.importBatch)
        for (let done = 0; done < activity.size; done += 200) {
          const command: Command = []
          for (let n = done; n < Math.min(activity.size, done + 200); n++) command.push(...newContact(at, 'bulk_import', importId))
          await send(command)
        }
        break
      }
      case 'template': {
        const templateId = nextId(KIND.template)
        const name = `${random.pick(CATEGORIES)} ${templateIds.length + 1}`
        const category = random.pick(CATEGORIES)
        const language = random.chance(0.6) ? 'sw' : 'en'
        const content = 'Habari {{name}}, karibu tena! Ofa yetu ya wiki hii: {{offer}}.'
        const author = random.pick(users)
        const refs = { templateId, tenantId: plan.tenantId }
        const stream = templateStream(templateId)
        await send([request(stream, 'no_stream', [{ type: 'templateCreated', data: { ...refs, name, channel: 'sms', category, language, content, variables: ['name', 'offer'], createdBy: author, at: iso(at) } } satisfies TemplateEvent], at, author.userId)])
        const submitted = at + random.int(60_000, 4 * HOUR)
        later(submitted, [request(stream, 0, [{ type: 'templateSubmitted', data: { ...refs, name, submittedBy: author, at: iso(submitted) } } satisfies TemplateEvent], submitted, author.userId)])
        const reviewed = submitted + random.int(HOUR, 2 * DAY)
        const reviewer = admin
        const review: TemplateEvent = random.chance(0.85)
          ? { type: 'templateApproved', data: { ...refs, name, channel: 'sms', category, language, approvedBy: reviewer, at: iso(reviewed) } }
          : { type: 'templateRejected', data: { ...refs, name, reason: 'Promotional content needs an opt-out line', rejectedBy: reviewer, at: iso(reviewed) } }
        later(reviewed, [request(stream, 1, [review], reviewed, reviewer.userId)])
        templateIds.push(templateId)
        break
      }
      case 'segment': {
        const segmentId = nextId(KIND.segment)
        const tag = random.pick(TAGS)
        const name = `${tag} customers ${segmentId.slice(-4)}`
        const criteria = { tags: [tag], optInStatus: 'any' as const, attributes: {}, isActive: true }
        const correlation = nextId(KIND.correlation)
        await send([
          request(segmentStream(segmentId), 'no_stream', [{ type: 'segmentCreated', data: { segmentId, tenantId: plan.tenantId, name, description: `Contacts tagged ${tag}`, criteria, createdBy: admin, at: iso(at) } } satisfies SegmentEvent], at, admin.userId, correlation),
          request(segmentNameStream(plan.tenantId, name), 'no_stream', [{ type: 'segmentNameClaimed', data: { key: segmentNameKey(name), segmentId } } satisfies SegmentNameEvent], at, admin.userId, correlation),
        ])
        const count = Math.round(known.length / TAGS.length)
        later(at + 1000, [request(segmentStream(segmentId), 0, [{ type: 'segmentCounted', data: { segmentId, tenantId: plan.tenantId, name, count, at: iso(at + 1000) } } satisfies SegmentEvent], at + 1000, admin.userId)])
        break
      }
      case 'optOut': {
        const contact = known.length > 0 ? random.pick(known) : undefined
        if (!contact || contact.optedOut) break
        contact.optedOut = true
        await send([request(contactStream(contact.contactId), contact.version, [{ type: 'contactOptedOut', data: { contactId: contact.contactId, tenantId: plan.tenantId, reason: 'STOP received', at: iso(at) } } satisfies ContactEvent], at, null)])
        contact.version += 1
        break
      }
      case 'update': {
        const contact = known.length > 0 ? random.pick(known) : undefined
        if (!contact) break
        const profile: ContactProfile = { name: contact.name, phone: contact.phone, email: null, tags: [random.pick(TAGS), random.pick(TAGS)].filter((tag, i, all) => all.indexOf(tag) === i).sort(), attributes: { updated: true }, isActive: true }
        await send([request(contactStream(contact.contactId), contact.version, [{ type: 'contactUpdated', data: { contactId: contact.contactId, tenantId: plan.tenantId, profile, changedFields: ['tags', 'attributes', 'email'], at: iso(at) } } satisfies ContactEvent], at, admin.userId)])
        contact.version += 1
        break
      }
      case 'conversation': {
        if (known.length === 0) break
        const contact = random.pick(known)
        const conversationId = nextId(KIND.conversation)
        const subject = `${random.pick(['Order', 'Delivery', 'Payment', 'Offer', 'Support'])} #${conversationId.slice(-5)}`
        const agent = random.pick(users)
        const stream = conversationStream(conversationId)
        await send([request(stream, 'no_stream', [{ type: 'conversationStarted', data: { conversationId, tenantId: plan.tenantId, contactId: contact.contactId, contactName: contact.name, contactPhone: contact.phone, subject, channel: 'sms', startedBy: agent, at: iso(at) } } satisfies ConversationEvent], at, agent.userId)])
        let t = at
        for (let exchange = 0; exchange < activity.exchanges; exchange++) {
          t += random.int(60_000, 6 * HOUR)
          // nothing after the history's end
          if (t > endsAt.getTime() - 3 * HOUR) break
          const inboundId = nextId(KIND.message)
          const inbound: MessageEvent = {
            type: 'inboundMessageReceived',
            data: { messageId: inboundId, tenantId: plan.tenantId, conversationId, campaignId: null, contactId: contact.contactId, contactName: contact.name, conversationSubject: subject, from: contact.phone, channel: 'sms', content: 'Asante, nina swali kuhusu oda yangu', at: iso(t) },
          }
          later(t, [request(messageStream(inboundId), 'no_stream', [inbound], t, null)])
          t += random.int(30_000, HOUR)
          for (const phase of messageLifecycle(t, contact, { conversationId, campaignId: null }, 'Karibu! Tunashughulikia ombi lako.', agent, random.chance(0.95) ? 'delivered' : 'failed')) {
            const phaseAt = Date.parse(phase.events[0]!.metadata.occurredAt)
            later(phaseAt, [phase])
            t = Math.max(t, phaseAt)
          }
        }
        if (activity.closes && t + 2 * DAY < endsAt.getTime()) {
          t += random.int(HOUR, 2 * DAY)
          later(t, [request(stream, 0, [{ type: 'conversationClosed', data: { conversationId, tenantId: plan.tenantId, subject, closedBy: agent, at: iso(t) } } satisfies ConversationEvent], t, agent.userId)])
        }
        break
      }
      case 'campaign': {
        const eligible = known.filter((contact) => !contact.optedOut)
        const slotsLeft = activity.slots - activity.slot
        const wanted = Math.round((campaignBudget / slotsLeft / EVENTS_PER_RECIPIENT) * (slotsLeft === 1 ? 1 : 0.6 + random.next() * 0.8))
        const size = Math.min(eligible.length, Math.max(0, wanted))
        const campaignId = nextId(KIND.campaign)
        const name = `${random.pick(['Wiki ya Ofa', 'Msimu wa Mavuno', 'Loyalty', 'New Stock', 'Reminder', 'Eid Offer'])} ${activity.slot + 1}`
        const whatsapp = random.chance(0.15)
        const campaignType = whatsapp ? ('whatsapp' as const) : ('sms' as const)
        const messageText = whatsapp ? 'Habari! Ofa maalum kwa wateja wetu wiki hii.' : 'Habari! Ofa maalum: punguzo la 20% wiki hii. STOP kujiondoa.'
        const author = random.pick(users)
        const stream = campaignStream(campaignId)
        const createdAt = at - random.int(HOUR, 3 * DAY)
        const cost = { currency: 'USD', channel: campaignType, billableParts: 1, pricePerPart: whatsapp ? 0.5 : 0.25, estimatedCost: Math.round(size * (whatsapp ? 0.5 : 0.25) * 100) / 100 }
        const created: CampaignEvent = {
          type: 'campaignCreated',
          data: {
            campaignId,
            tenantId: plan.tenantId,
            name,
            description: 'Monthly offer to active customers',
            campaignType,
            messageText,
            templateId: templateIds.length > 0 ? random.pick(templateIds) : null,
            scheduledAt: null,
            targetContactIds: [],
            targetSegments: [],
            targetCriteria: { tags: [], optInStatus: 'any', attributes: {}, isActive: true },
            settings: {},
            isRecurring: false,
            recurringSchedule: {},
            totalRecipients: eligible.length,
            cost,
            createdBy: author,
            at: iso(createdAt),
          },
        }
        await send([request(stream, 'no_stream', [created], createdAt, author.userId)])
        // some campaigns stay drafts
        if (size === 0 || random.chance(0.05)) break
        const recipients: Contact[] = []
        const step = eligible.length / size
        const offset = random.next() * step
        for (let n = 0; n < size; n++) recipients.push(eligible[Math.min(eligible.length - 1, Math.floor(offset + n * step))]!)
        const chunks: CampaignEvent[] = []
        for (let chunk = 0; chunk * RECIPIENT_CHUNK_SIZE < size; chunk++) {
          chunks.push({ type: 'campaignRecipientsAdded', data: { campaignId, tenantId: plan.tenantId, chunk, campaignType, messageText, recipients: recipients.slice(chunk * RECIPIENT_CHUNK_SIZE, (chunk + 1) * RECIPIENT_CHUNK_SIZE).map((r) => ({ contactId: r.contactId, phone: r.phone })) } })
        }
        const started: CampaignEvent = { type: 'campaignStarted', data: { campaignId, tenantId: plan.tenantId, name, campaignType, recipientCount: size, cost, startedBy: author, at: iso(at) } }
        await send([request(stream, 0, [...chunks, started], at, author.userId)])
        let version = chunks.length + 1
        const cancelled = random.chance(0.03)
        // the fan-out queues every message, then sends and reports arrive; phase by phase
        const lifecycles = recipients.map((recipient, n) =>
          messageLifecycle(at + 100 + Math.floor(n / 50), recipient, { conversationId: null, campaignId }, messageText, system, cancelled && n >= size / 2 ? 'cancelled' : outcomeOf(whatsapp)),
        )
        let sent = 0
        let delivered = 0
        let read = 0
        let failed = 0
        let last = at
        for (const phases of lifecycles) {
          const types = phases.map((p) => p.events[0]!.type)
          if (types.includes('messageSent')) sent++
          if (types.includes('messageDelivered')) delivered++
          if (types.includes('messageRead')) read++
          if (types.includes('messageFailed')) failed++
          const end = Date.parse(phases.at(-1)!.events[0]!.metadata.occurredAt)
          if (end > last) last = end
        }
        for (let phase = 0; phase < 4; phase++) {
          const batch: AppendRequest[] = []
          for (const phases of lifecycles) {
            const step = phases[phase]
            if (!step) continue
            batch.push(step)
            if (batch.length >= 500) {
              await send(batch.splice(0))
            }
          }
          if (batch.length > 0) await send(batch)
        }
        for (const phases of lifecycles) campaignBudget -= phases.length
        campaignBudget -= 2 + chunks.length
        const endedAt = Math.min(last + random.int(60_000, 30 * 60_000), endsAt.getTime() - 60_000)
        if (cancelled) {
          await send([request(stream, version, [{ type: 'campaignCancelled', data: { campaignId, tenantId: plan.tenantId, name, previousStatus: 'running', cancelledBy: author, at: iso(endedAt) } } satisfies CampaignEvent], endedAt, author.userId)])
        } else {
          const deliveryRate = sent === 0 ? 0 : Math.round((delivered / sent) * 1000) / 10
          await send([
            request(stream, version, [{ type: 'campaignCompleted', data: { campaignId, tenantId: plan.tenantId, name, recipientCount: size, sentCount: sent, deliveredCount: delivered, readCount: read, failedCount: failed, deliveryRate, completedBy: system, at: iso(endedAt) } } satisfies CampaignEvent], endedAt, null),
          ])
        }
        version += 1
        campaignBudget -= 1
        break
      }
    }
  }
  await drainUntil(Number.POSITIVE_INFINITY)
  return written
}

/** Commands waiting for their time, taken in time order (ties in the order they were added). */
class ScheduledCommands {
  readonly #heap: { at: number; seq: number; command: Command }[] = []
  #seq = 0

  add(at: number, command: Command): void {
    const heap = this.#heap
    heap.push({ at, seq: this.#seq++, command })
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  /** the earliest command due at `at`, removed; undefined when none is due */
  takeDue(at: number): Command | undefined {
    const heap = this.#heap
    const top = heap[0]
    if (!top || top.at > at) return undefined
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && this.#before(heap[left]!, heap[smallest]!)) smallest = left
        if (right < heap.length && this.#before(heap[right]!, heap[smallest]!)) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
        i = smallest
      }
    }
    return top.command
  }

  #before(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq)
  }
}
