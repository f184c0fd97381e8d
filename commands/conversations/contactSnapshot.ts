import { NotFound } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { loadAggregate } from '../commandExecution.ts'
import { contactStream } from '../contacts/contactCommands.ts'
import { contactDecider } from '../contacts/contactDecider.ts'

/**
 * What a conversation or message command needs to know about its contact, read from the contact
 * aggregate when the command arrives. The deciders apply the rules (a deleted contact, an opt-out);
 * they never read the contact themselves.
 */
export interface ContactSnapshot {
  contactId: string
  name: string
  phone: string | null
  /** opted out and not opted in again since */
  optedOut: boolean
  deleted: boolean
}

/** The contact as of now; another tenant's contact, or none, is "Contact not found". */
export async function loadContactSnapshot(store: EventStore, tenantId: string, contactId: string): Promise<ContactSnapshot> {
  const { state } = await loadAggregate(store, contactStream(contactId), contactDecider)
  if (state.status === 'absent' || state.tenantId !== tenantId) throw new NotFound('Contact not found')
  return {
    contactId: state.contactId,
    name: state.profile.name,
    phone: state.profile.phone,
    optedOut: !state.isOptedIn && state.optOutAt !== null,
    deleted: state.status === 'deleted',
  }
}
