import { BusinessRuleViolation } from '../../infra/errors.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { ContactKeyEvent } from './contactEvents.ts'

export type ContactKeyKind = 'phone' | 'email'

export interface ContactKeyState {
  holder: string | null
}

export type ContactKeyCommand =
  | { type: 'claimKey'; key: string; kind: ContactKeyKind; contactId: string }
  | { type: 'releaseKey'; key: string; kind: ContactKeyKind; contactId: string }

function claimKey(command: Extract<ContactKeyCommand, { type: 'claimKey' }>, state: ContactKeyState): ContactKeyEvent[] {
  if (state.holder === command.contactId) return []
  if (state.holder !== null) {
    throw new BusinessRuleViolation(
      `This ${command.kind} already belongs to another contact`,
      'DUPLICATE_CONTACT',
      { field: command.kind === 'phone' ? 'phone_e164' : 'email', contact_id: state.holder },
      409,
    )
  }
  return [{ type: 'contactKeyClaimed', data: { key: command.key, kind: command.kind, contactId: command.contactId } }]
}

function releaseKey(command: Extract<ContactKeyCommand, { type: 'releaseKey' }>, state: ContactKeyState): ContactKeyEvent[] {
  if (state.holder !== command.contactId) return []
  return [{ type: 'contactKeyReleased', data: { key: command.key, kind: command.kind, contactId: command.contactId } }]
}

export function decide(command: ContactKeyCommand, state: ContactKeyState): ContactKeyEvent[] {
  switch (command.type) {
    case 'claimKey':
      return claimKey(command, state)
    case 'releaseKey':
      return releaseKey(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: ContactKeyState, event: ContactKeyEvent): ContactKeyState {
  switch (event.type) {
    case 'contactKeyClaimed':
      return { holder: event.data.contactId }
    case 'contactKeyReleased':
      return state.holder === event.data.contactId ? { holder: null } : state
    default:
      return unreachable(event)
  }
}

export const contactKeyDecider: Decider<ContactKeyCommand, ContactKeyEvent, ContactKeyState> = {
  initialState: { holder: null },
  evolve,
  decide,
}
