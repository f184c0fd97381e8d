import { BusinessRuleViolation, NotFound, ValidationFailed } from '../../infra/errors.ts'
import { streamName, type AppendRequest, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry, type LoadedAggregate } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { contactDecider, type ContactState, type ExistingContact } from './contactDecider.ts'
import type { ContactEvent } from './contactEvents.ts'
import type { ContactInput } from './contactInput.ts'
import { contactKeyDecider, type ContactKeyKind, type ContactKeyState } from './contactKeyDecider.ts'

export const contactStream = (contactId: string): string => streamName('contact', contactId)

export const contactKeyStream = (kind: ContactKeyKind, tenantId: string, key: string): string =>
  streamName(kind === 'phone' ? 'contactPhone' : 'contactEmail', `${tenantId}:${key}`)

export interface ContactOutcome {
  contact: ExistingContact
  position: number
}

export interface UpsertOutcome extends ContactOutcome {
  /** true when an existing contact (same phone or email) was updated instead of a new one created */
  upserted: boolean
}

interface LoadedKey extends LoadedAggregate<ContactKeyState> {
  kind: ContactKeyKind
  key: string
  streamName: string
}

async function loadKey(store: EventStore, tenantId: string, kind: ContactKeyKind, key: string | null): Promise<LoadedKey | null> {
  if (!key) return null
  const name = contactKeyStream(kind, tenantId, key)
  return { ...(await loadAggregate(store, name, contactKeyDecider)), kind, key, streamName: name }
}

/** The append that claims or releases one key, or nothing when the key already is as wanted. */
function keyAppend(loaded: LoadedKey, action: 'claimKey' | 'releaseKey', contactId: string, context: CommandContext): AppendRequest[] {
  const events = contactKeyDecider.decide({ type: action, key: loaded.key, kind: loaded.kind, contactId }, loaded.state)
  if (events.length === 0) return []
  return [{ streamName: loaded.streamName, expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) }]
}

/** Key claims and releases that follow a profile change from `before` to `after`. */
async function keyAppendsFor(
  store: EventStore,
  context: CommandContext,
  contactId: string,
  before: { phone: string | null; email: string | null },
  after: { phone: string | null; email: string | null },
  loadedForNewValues: { phone: LoadedKey | null; email: LoadedKey | null },
): Promise<AppendRequest[]> {
  const appends: AppendRequest[] = []
  for (const kind of ['phone', 'email'] as const) {
    if (before[kind] === after[kind]) continue
    const claimed = loadedForNewValues[kind] ?? (await loadKey(store, context.tenantId, kind, after[kind]))
    if (claimed) appends.push(...keyAppend(claimed, 'claimKey', contactId, context))
    const released = await loadKey(store, context.tenantId, kind, before[kind])
    if (released) appends.push(...keyAppend(released, 'releaseKey', contactId, context))
  }
  return appends
}

function requirePhoneOrEmail(state: ContactState): void {
  if (state.status === 'active' && !state.profile.phone && !state.profile.email) {
    throw new ValidationFailed({ phone_e164: ['Either phone_e164 or email is required.'] })
  }
}

function contactOf(state: ContactState): ExistingContact {
  if (state.status === 'absent') throw new Error('contact state is absent after a command that creates it')
  return state
}

/**
 * Upserts of the same phone or email queue up inside one process, one after the other, per store.
 * Correctness never depends on this (the key streams settle races between processes too), but
 * without it N concurrent upserts of one key would each re-read and retry against N-1 winners:
 * at 50 clients some needed 25 of their 40 attempts, at 100 some ran out and got a 409.
 * Each caller enqueues on all its keys at once (synchronously), so a caller only ever waits for
 * callers that came before it: no cycle, no deadlock.
 */
const upsertQueues = new WeakMap<EventStore, Map<string, Promise<void>>>()

async function oneAtATimePerKey<T>(store: EventStore, keys: readonly string[], work: () => Promise<T>): Promise<T> {
  let queues = upsertQueues.get(store)
  if (!queues) upsertQueues.set(store, (queues = new Map()))
  let release!: () => void
  const done = new Promise<void>((resolve) => (release = resolve))
  const earlier = [...new Set(keys)].map((key) => {
    const previous = queues.get(key)
    queues.set(key, done)
    return previous
  })
  try {
    await Promise.all(earlier)
    return await work()
  } finally {
    release()
    for (const key of keys) if (queues.get(key) === done) queues.delete(key)
  }
}

/**
 * Create the contact, or update the one that already holds this phone or email in the tenant.
 * Safe under any number of concurrent upserts of the same key: creating a contact claims its keys
 * in the same atomic append, so of two racing creators one wins and the other, on retry, finds
 * the winner's claim and updates that contact instead.
 */
export async function upsertContact(
  store: EventStore,
  context: CommandContext,
  input: ContactInput,
  origin: { source: 'api' | 'bulk_import'; importId: string | null } = { source: 'api', importId: null },
): Promise<UpsertOutcome> {
  const keys = [input.phone && contactKeyStream('phone', context.tenantId, input.phone), input.email && contactKeyStream('email', context.tenantId, input.email)]
  return oneAtATimePerKey(store, keys.filter((key): key is string => !!key), () => upsertOnce(store, context, input, origin))
}

function upsertOnce(
  store: EventStore,
  context: CommandContext,
  input: ContactInput,
  origin: { source: 'api' | 'bulk_import'; importId: string | null },
): Promise<UpsertOutcome> {
  return withConcurrencyRetry(async () => {
    const [phoneKey, emailKey] = await Promise.all([
      loadKey(store, context.tenantId, 'phone', input.phone),
      loadKey(store, context.tenantId, 'email', input.email),
    ])
    const phoneHolder = phoneKey?.state.holder ?? null
    const emailHolder = emailKey?.state.holder ?? null
    if (phoneHolder && emailHolder && phoneHolder !== emailHolder) {
      throw new BusinessRuleViolation(
        'The phone number and the email belong to two different contacts',
        'CONTACT_CONFLICT',
        { phone_contact_id: phoneHolder, email_contact_id: emailHolder },
        409,
      )
    }

    const holderId = phoneHolder ?? emailHolder
    const holder = holderId ? await loadAggregate(store, contactStream(holderId), contactDecider) : null

    if (holderId && holder && holder.state.status === 'active') {
      const before = holder.state.profile
      const events = contactDecider.decide({ type: 'updateContact', changes: input.changes, now: context.now }, holder.state)
      const next = fold(contactDecider.evolve, holder.state as ContactState, events)
      requirePhoneOrEmail(next)
      const after = contactOf(next).profile
      const keyAppends = await keyAppendsFor(store, context, holderId, before, after, { phone: phoneKey, email: emailKey })
      if (events.length === 0 && keyAppends.length === 0) {
        return { contact: holder.state, upserted: true, position: holder.lastPosition }
      }
      const appends: AppendRequest[] = [...keyAppends]
      if (events.length > 0) {
        appends.unshift({ streamName: contactStream(holderId), expectedVersion: expectedVersionOf(holder.version), events: toNewEvents(events, context) })
      }
      const result = await store.append(appends)
      return { contact: contactOf(next), upserted: true, position: result.lastPosition }
    }

    // A claim whose contact never came to be (a crash between two appends on a store without
    // multi-stream appends) is taken over: the contact is created under the claimed id.
    const contactId = holderId && holder?.state.status === 'absent' ? holderId : newId()
    const events = contactDecider.decide(
      { type: 'createContact', contactId, tenantId: context.tenantId, changes: input.changes, source: origin.source, importId: origin.importId, now: context.now },
      { status: 'absent' },
    )
    const created = contactOf(fold(contactDecider.evolve, { status: 'absent' } as ContactState, events))
    const appends: AppendRequest[] = [
      { streamName: contactStream(contactId), expectedVersion: 'no_stream', events: toNewEvents(events, context) },
      ...(phoneKey ? keyAppend(phoneKey, 'claimKey', contactId, context) : []),
      ...(emailKey ? keyAppend(emailKey, 'claimKey', contactId, context) : []),
    ]
    const result = await store.append(appends)
    return { contact: created, upserted: false, position: result.lastPosition }
  })
}

async function loadTenantContact(store: EventStore, tenantId: string, contactId: string): Promise<LoadedAggregate<ContactState>> {
  const loaded = await loadAggregate(store, contactStream(contactId), contactDecider)
  if (loaded.state.status !== 'active' || loaded.state.tenantId !== tenantId) throw new NotFound('Contact not found')
  return loaded
}

async function runContactCommand(
  store: EventStore,
  context: CommandContext,
  contactId: string,
  decideEvents: (state: ContactState) => ContactEvent[],
  extraAppends: (state: ExistingContact) => Promise<AppendRequest[]> = async () => [],
): Promise<ContactOutcome> {
  return withConcurrencyRetry(async () => {
    const loaded = await loadTenantContact(store, context.tenantId, contactId)
    const events = decideEvents(loaded.state)
    const next = fold(contactDecider.evolve, loaded.state, events)
    if (events.length === 0) return { contact: contactOf(loaded.state), position: loaded.lastPosition }
    const result = await store.append([
      { streamName: contactStream(contactId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) },
      ...(await extraAppends(contactOf(loaded.state))),
    ])
    return { contact: contactOf(next), position: result.lastPosition }
  })
}

export function optInContact(store: EventStore, context: CommandContext, contactId: string): Promise<ContactOutcome> {
  return runContactCommand(store, context, contactId, (state) => contactDecider.decide({ type: 'optIn', now: context.now }, state))
}

export function optOutContact(store: EventStore, context: CommandContext, contactId: string, reason: string): Promise<ContactOutcome> {
  return runContactCommand(store, context, contactId, (state) => contactDecider.decide({ type: 'optOut', reason, now: context.now }, state))
}

/** Soft delete: the contact stays in the log; its phone and email are free for a new contact. */
export function deleteContact(store: EventStore, context: CommandContext, contactId: string): Promise<ContactOutcome> {
  return runContactCommand(
    store,
    context,
    contactId,
    (state) => contactDecider.decide({ type: 'deleteContact', now: context.now }, state),
    async (contact) => {
      const keys = await Promise.all([
        loadKey(store, context.tenantId, 'phone', contact.profile.phone),
        loadKey(store, context.tenantId, 'email', contact.profile.email),
      ])
      return keys.flatMap((key) => (key ? keyAppend(key, 'releaseKey', contactId, context) : []))
    },
  )
}
