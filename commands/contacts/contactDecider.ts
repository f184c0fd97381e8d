import { invalidStatus, NotFound, ValidationFailed } from '../../infra/errors.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { Attributes, ContactEvent, ContactProfile } from './contactEvents.ts'

export interface ExistingContact {
  status: 'active' | 'deleted'
  contactId: string
  tenantId: string
  profile: ContactProfile
  isOptedIn: boolean
  optInAt: string | null
  optOutAt: string | null
  optOutReason: string | null
  createdAt: string
  updatedAt: string
  deletedAt: string | null
}

export type ContactState = { status: 'absent' } | ExistingContact

/** What an upsert or update may change; an absent field keeps its value. */
export interface ProfileChanges {
  name?: string
  phone?: string | null
  email?: string | null
  tags?: string[]
  /** merged into the existing attributes key by key */
  attributes?: Attributes
  isActive?: boolean
  /** opt-in status set along with the profile (bulk imports carry it) */
  isOptedIn?: boolean
}

/**
 * A whole new profile (PUT): fields left out take their defaults (no tags, no attributes, active,
 * the name defaults to the phone or email); at least a phone or an email must remain.
 */
export interface ProfileReplacement {
  name: string | null
  phone: string | null
  email: string | null
  tags: string[]
  attributes: Attributes
  isActive: boolean
  /** opt-in status set along with the profile; left out, it stays as it is */
  isOptedIn?: boolean
}

export type ContactCommand =
  | { type: 'createContact'; contactId: string; tenantId: string; changes: ProfileChanges; source: 'api' | 'bulk_import'; importId: string | null; now: Date }
  /** upsert semantics: absent fields keep their value, attributes merge */
  | { type: 'updateContact'; changes: ProfileChanges; now: Date }
  /** PUT semantics: the profile is replaced whole */
  | { type: 'replaceContact'; replacement: ProfileReplacement; now: Date }
  | { type: 'optIn'; now: Date }
  | { type: 'optOut'; reason: string; now: Date }
  | { type: 'deleteContact'; now: Date }

const OPT_OUT_BY_UPDATE = 'Opted out by contact update'

function existing(state: ContactState): ExistingContact {
  if (state.status !== 'active') throw new NotFound('Contact not found')
  return state
}

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

function optInEvents(contact: { contactId: string; tenantId: string; isOptedIn: boolean }, wanted: boolean | undefined, at: string): ContactEvent[] {
  if (wanted === undefined || wanted === contact.isOptedIn) return []
  return wanted
    ? [{ type: 'contactOptedIn', data: { contactId: contact.contactId, tenantId: contact.tenantId, at } }]
    : [{ type: 'contactOptedOut', data: { contactId: contact.contactId, tenantId: contact.tenantId, reason: OPT_OUT_BY_UPDATE, at } }]
}

function createContact(command: Extract<ContactCommand, { type: 'createContact' }>, state: ContactState): ContactEvent[] {
  if (state.status !== 'absent') throw invalidStatus('Contact already exists', state.status, ['absent'])
  const { changes } = command
  const at = command.now.toISOString()
  const profile: ContactProfile = {
    name: changes.name ?? changes.phone ?? changes.email ?? '',
    phone: changes.phone ?? null,
    email: changes.email ?? null,
    tags: changes.tags ?? [],
    attributes: changes.attributes ?? {},
    isActive: changes.isActive ?? true,
  }
  return [
    { type: 'contactCreated', data: { contactId: command.contactId, tenantId: command.tenantId, profile, source: command.source, importId: command.importId, at } },
    ...optInEvents({ contactId: command.contactId, tenantId: command.tenantId, isOptedIn: false }, changes.isOptedIn, at),
  ]
}

/** The events that take a contact from its profile to `next` (and to the wanted opt-in status). */
function profileEvents(contact: ExistingContact, next: ContactProfile, isOptedIn: boolean | undefined, now: Date): ContactEvent[] {
  const current = contact.profile
  const changedFields = (Object.keys(next) as (keyof ContactProfile)[]).filter((field) => !sameValue(next[field], current[field]))
  const at = now.toISOString()
  const events: ContactEvent[] = []
  if (changedFields.length > 0) {
    events.push({ type: 'contactUpdated', data: { contactId: contact.contactId, tenantId: contact.tenantId, profile: next, changedFields, at } })
  }
  return [...events, ...optInEvents(contact, isOptedIn, at)]
}

function updateContact(command: Extract<ContactCommand, { type: 'updateContact' }>, state: ContactState): ContactEvent[] {
  const contact = existing(state)
  const { changes } = command
  const current = contact.profile
  const next: ContactProfile = {
    name: changes.name ?? current.name,
    phone: changes.phone !== undefined ? changes.phone : current.phone,
    email: changes.email !== undefined ? changes.email : current.email,
    tags: changes.tags ?? current.tags,
    attributes: changes.attributes ? { ...current.attributes, ...changes.attributes } : current.attributes,
    isActive: changes.isActive ?? current.isActive,
  }
  return profileEvents(contact, next, changes.isOptedIn, command.now)
}

function replaceContact(command: Extract<ContactCommand, { type: 'replaceContact' }>, state: ContactState): ContactEvent[] {
  const contact = existing(state)
  const { replacement } = command
  if (!replacement.phone && !replacement.email) throw new ValidationFailed({ phone_e164: ['Either phone_e164 or email is required.'] })
  const next: ContactProfile = {
    name: replacement.name || replacement.phone || replacement.email || '',
    phone: replacement.phone,
    email: replacement.email,
    tags: replacement.tags,
    attributes: replacement.attributes,
    isActive: replacement.isActive,
  }
  return profileEvents(contact, next, replacement.isOptedIn, command.now)
}

function optIn(command: Extract<ContactCommand, { type: 'optIn' }>, state: ContactState): ContactEvent[] {
  const contact = existing(state)
  return optInEvents(contact, true, command.now.toISOString())
}

function optOut(command: Extract<ContactCommand, { type: 'optOut' }>, state: ContactState): ContactEvent[] {
  const contact = existing(state)
  if (!contact.isOptedIn && contact.optOutAt !== null) return []
  return [{ type: 'contactOptedOut', data: { contactId: contact.contactId, tenantId: contact.tenantId, reason: command.reason, at: command.now.toISOString() } }]
}

function deleteContact(command: Extract<ContactCommand, { type: 'deleteContact' }>, state: ContactState): ContactEvent[] {
  const contact = existing(state)
  return [{ type: 'contactDeleted', data: { contactId: contact.contactId, tenantId: contact.tenantId, at: command.now.toISOString() } }]
}

export function decide(command: ContactCommand, state: ContactState): ContactEvent[] {
  switch (command.type) {
    case 'createContact':
      return createContact(command, state)
    case 'updateContact':
      return updateContact(command, state)
    case 'replaceContact':
      return replaceContact(command, state)
    case 'optIn':
      return optIn(command, state)
    case 'optOut':
      return optOut(command, state)
    case 'deleteContact':
      return deleteContact(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: ContactState, event: ContactEvent): ContactState {
  switch (event.type) {
    case 'contactCreated':
      return {
        status: 'active',
        contactId: event.data.contactId,
        tenantId: event.data.tenantId,
        profile: event.data.profile,
        isOptedIn: false,
        optInAt: null,
        optOutAt: null,
        optOutReason: null,
        createdAt: event.data.at,
        updatedAt: event.data.at,
        deletedAt: null,
      }
    case 'contactUpdated':
      return state.status === 'absent' ? state : { ...state, profile: event.data.profile, updatedAt: event.data.at }
    case 'contactOptedIn':
      return state.status === 'absent' ? state : { ...state, isOptedIn: true, optInAt: event.data.at, updatedAt: event.data.at }
    case 'contactOptedOut':
      return state.status === 'absent'
        ? state
        : { ...state, isOptedIn: false, optOutAt: event.data.at, optOutReason: event.data.reason, updatedAt: event.data.at }
    case 'contactDeleted':
      return state.status === 'absent' ? state : { ...state, status: 'deleted', deletedAt: event.data.at, updatedAt: event.data.at }
    default:
      return unreachable(event)
  }
}

export const contactDecider: Decider<ContactCommand, ContactEvent, ContactState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
