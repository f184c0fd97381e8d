import { BusinessRuleViolation, NotFound, ValidationFailed } from '../../infra/errors.ts'
import { streamName, WrongExpectedVersion, type AppendRequest, type EventStore } from '../../infra/eventStore/eventStore.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry, type LoadedAggregate } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { contactDecider, type ContactState, type ExistingContact, type ProfileReplacement } from './contactDecider.ts'
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

/** How a contact arrived: one by one, or in a bulk import (`importId` groups those). */
type Origin = { source: 'api' | 'bulk_import'; importId: string | null }

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
  origin: Origin = { source: 'api', importId: null },
): Promise<UpsertOutcome> {
  const keys = [input.phone && contactKeyStream('phone', context.tenantId, input.phone), input.email && contactKeyStream('email', context.tenantId, input.email)]
  return oneAtATimePerKey(store, keys.filter((key): key is string => !!key), () => upsertOnce(store, context, input, origin))
}

/** What one upsert will do: the appends (none when nothing changes) and the contact after them. */
interface UpsertPlan {
  appends: AppendRequest[]
  contact: ExistingContact
  upserted: boolean
  /** the contact's last position before the upsert (its answer when nothing is appended) */
  positionBefore: number
}

/** A key stream taken to be absent without reading it (a bulk import's optimistic batches). */
function unreadKey(tenantId: string, kind: ContactKeyKind, key: string | null): LoadedKey | null {
  if (!key) return null
  return { state: contactKeyDecider.initialState, version: -1, lastPosition: 0, kind, key, streamName: contactKeyStream(kind, tenantId, key) }
}

/** Decides one upsert against the given key states: update the holder of the phone or email, or create. */
async function planUpsert(
  store: EventStore,
  context: CommandContext,
  input: ContactInput,
  origin: Origin,
  phoneKey: LoadedKey | null,
  emailKey: LoadedKey | null,
): Promise<UpsertPlan> {
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
    const appends = await keyAppendsFor(store, context, holderId, before, after, { phone: phoneKey, email: emailKey })
    if (events.length > 0) {
      appends.unshift({ streamName: contactStream(holderId), expectedVersion: expectedVersionOf(holder.version), events: toNewEvents(events, context) })
    }
    return { appends, contact: appends.length === 0 ? holder.state : contactOf(next), upserted: true, positionBefore: holder.lastPosition }
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
  return { appends, contact: created, upserted: false, positionBefore: 0 }
}

async function upsertOnce(store: EventStore, context: CommandContext, input: ContactInput, origin: Origin): Promise<UpsertOutcome> {
  const created = await createIfKeysNeverClaimed(store, context, input, origin)
  if (created) return created
  return withConcurrencyRetry(async () => {
    const [phoneKey, emailKey] = await Promise.all([
      loadKey(store, context.tenantId, 'phone', input.phone),
      loadKey(store, context.tenantId, 'email', input.email),
    ])
    const plan = await planUpsert(store, context, input, origin, phoneKey, emailKey)
    if (plan.appends.length === 0) return { contact: plan.contact, upserted: plan.upserted, position: plan.positionBefore }
    const result = await store.append(plan.appends)
    return { contact: plan.contact, upserted: plan.upserted, position: result.lastPosition }
  })
}

/**
 * The common case first, in one round trip: a phone and email that no contact ever held. The
 * contact is created claiming its keys with "no stream" as their expected version, without reading
 * the key streams; when a key stream exists after all (the key is held, or was held and released),
 * nothing is written and the answer is null: the caller reads the keys and decides again.
 */
async function createIfKeysNeverClaimed(store: EventStore, context: CommandContext, input: ContactInput, origin: Origin): Promise<UpsertOutcome | null> {
  const plan = await planUpsert(store, context, input, origin, unreadKey(context.tenantId, 'phone', input.phone), unreadKey(context.tenantId, 'email', input.email))
  try {
    const result = await store.append(plan.appends)
    return { contact: plan.contact, upserted: plan.upserted, position: result.lastPosition }
  } catch (error) {
    if (error instanceof WrongExpectedVersion) return null
    throw error
  }
}

export type BatchRowOutcome =
  | { kind: 'done'; outcome: UpsertOutcome }
  /** the row's own refusal (CONTACT_CONFLICT, DUPLICATE_CONTACT…): nothing of it is written */
  | { kind: 'refused'; error: BusinessRuleViolation | ValidationFailed }
  /** the row touches a stream an earlier row of the batch touches: upsert it on its own */
  | { kind: 'deferred' }

/** `phone:<e164>` or `email:<address>` → the contact that holds it, as a read model believes. */
export type KeyHolderHints = ReadonlyMap<string, string>

export const keyHintOf = (kind: ContactKeyKind, key: string): string => `${kind}:${key}`

/**
 * How a batch learns who holds its rows' keys:
 * - 'read': reads every key stream (as a single upsert does);
 * - 'assumeFresh': reads none and takes every key to be unheld and never claimed, which makes
 *   every row a new contact claiming its keys with "no stream" as the expected version;
 * - hints: a row whose key a hint names is decided against that contact once its stream confirms
 *   the hint (active in the tenant, holding every key of the row: a contact's phone and email are
 *   always claimed and released with it, atomically, so its profile tells what it holds); such a
 *   row's keys do not change, so their streams are neither read nor written. A row without hints
 *   is taken as fresh; a row whose hint the contact does not confirm has its keys read.
 */
export type KeyKnowledge = 'read' | 'assumeFresh' | { hints: KeyHolderHints }

function confirms(state: ContactState, tenantId: string, input: ContactInput): state is ExistingContact {
  return (
    state.status === 'active' &&
    state.tenantId === tenantId &&
    (!input.phone || state.profile.phone === input.phone) &&
    (!input.email || state.profile.email === input.email)
  )
}

/** Decides one row of a batch according to what is known of its keys. */
async function planBatchRow(store: EventStore, context: CommandContext, input: ContactInput, origin: Origin, knowledge: KeyKnowledge): Promise<UpsertPlan> {
  const tenantId = context.tenantId
  const readKeys = async (): Promise<UpsertPlan> => {
    const [phoneKey, emailKey] = await Promise.all([loadKey(store, tenantId, 'phone', input.phone), loadKey(store, tenantId, 'email', input.email)])
    return planUpsert(store, context, input, origin, phoneKey, emailKey)
  }
  const assumeFresh = (): Promise<UpsertPlan> =>
    planUpsert(store, context, input, origin, unreadKey(tenantId, 'phone', input.phone), unreadKey(tenantId, 'email', input.email))
  if (knowledge === 'read') return readKeys()
  if (knowledge === 'assumeFresh') return assumeFresh()

  const hinted = [input.phone && knowledge.hints.get(keyHintOf('phone', input.phone)), input.email && knowledge.hints.get(keyHintOf('email', input.email))]
  const holders = [...new Set(hinted.filter((id): id is string => !!id))]
  if (holders.length === 0) return assumeFresh()
  if (holders.length > 1) return readKeys()
  const holder = await loadAggregate(store, contactStream(holders[0]!), contactDecider)
  if (!confirms(holder.state, tenantId, input)) return readKeys()
  const events = contactDecider.decide({ type: 'updateContact', changes: input.changes, now: context.now }, holder.state)
  const next = fold(contactDecider.evolve, holder.state as ContactState, events)
  if (events.length === 0) return { appends: [], contact: holder.state, upserted: true, positionBefore: holder.lastPosition }
  // the row's keys are the contact's already, and an upsert changes no key it does not name
  return {
    appends: [{ streamName: contactStream(holder.state.contactId), expectedVersion: expectedVersionOf(holder.version), events: toNewEvents(events, context) }],
    contact: contactOf(next),
    upserted: true,
    positionBefore: holder.lastPosition,
  }
}

/**
 * Many upserts in one atomic multi-stream append, for bulk imports. Each row is decided as an
 * upsert would decide it, from what `knowledge` says of its keys (see KeyKnowledge); every stream
 * written carries the version read (or "no stream") as its expected version. A row whose appends
 * would touch a stream an earlier row already touches is left out ('deferred'). When the append
 * meets a stream that is not as expected (a key that exists after all, a stale hint, a concurrent
 * writer), nothing is written and the answer is null: the caller then tries again knowing less.
 * The inputs must not share a phone number or an email.
 */
export async function upsertContactsTogether(
  store: EventStore,
  context: CommandContext,
  inputs: readonly ContactInput[],
  origin: Origin,
  knowledge: KeyKnowledge,
  readConcurrency = 8,
): Promise<BatchRowOutcome[] | null> {
  const plans: (UpsertPlan | { refused: BusinessRuleViolation | ValidationFailed })[] = new Array(inputs.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < inputs.length) {
      const index = next++
      try {
        plans[index] = await planBatchRow(store, context, inputs[index]!, origin, knowledge)
      } catch (error) {
        if (!(error instanceof BusinessRuleViolation || error instanceof ValidationFailed)) throw error
        plans[index] = { refused: error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(readConcurrency, inputs.length) }, worker))

  const taken = new Set<string>()
  const appends: AppendRequest[] = []
  const outcomes: BatchRowOutcome[] = plans.map((plan) => {
    if ('refused' in plan) return { kind: 'refused', error: plan.refused }
    if (plan.appends.some((append) => taken.has(append.streamName))) return { kind: 'deferred' }
    for (const append of plan.appends) taken.add(append.streamName)
    appends.push(...plan.appends)
    return { kind: 'done', outcome: { contact: plan.contact, upserted: plan.upserted, position: plan.positionBefore } }
  })
  if (appends.length === 0) return outcomes
  try {
    const result = await store.append(appends)
    return outcomes.map((row, index) =>
      row.kind === 'done' && (plans[index] as UpsertPlan).appends.length > 0 ? { kind: 'done', outcome: { ...row.outcome, position: result.lastPosition } } : row,
    )
  } catch (error) {
    if (error instanceof WrongExpectedVersion) return null
    throw error
  }
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
  extraAppends: (before: ExistingContact, after: ExistingContact) => Promise<AppendRequest[]> = async () => [],
): Promise<ContactOutcome> {
  return withConcurrencyRetry(async () => {
    const loaded = await loadTenantContact(store, context.tenantId, contactId)
    const events = decideEvents(loaded.state)
    const next = fold(contactDecider.evolve, loaded.state, events)
    if (events.length === 0) return { contact: contactOf(loaded.state), position: loaded.lastPosition }
    const result = await store.append([
      { streamName: contactStream(contactId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) },
      ...(await extraAppends(contactOf(loaded.state), contactOf(next))),
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

/**
 * PUT: replaces the contact's profile whole (see ProfileReplacement). A new phone or email is
 * claimed and the old one released in the same atomic append as the update, so a phone or email
 * another contact holds is refused with 409 DUPLICATE_CONTACT and nothing is written.
 */
export function replaceContact(store: EventStore, context: CommandContext, contactId: string, replacement: ProfileReplacement): Promise<ContactOutcome> {
  const keys = [
    replacement.phone && contactKeyStream('phone', context.tenantId, replacement.phone),
    replacement.email && contactKeyStream('email', context.tenantId, replacement.email),
  ]
  return oneAtATimePerKey(
    store,
    keys.filter((key): key is string => !!key),
    () =>
      runContactCommand(
        store,
        context,
        contactId,
        (state) => contactDecider.decide({ type: 'replaceContact', replacement, now: context.now }, state),
        (before, after) => keyAppendsFor(store, context, contactId, before.profile, after.profile, { phone: null, email: null }),
      ),
  )
}
