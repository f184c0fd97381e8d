import { BusinessRuleViolation, invalidStatus } from '../../infra/errors.ts'
import type { TenantRole } from '../../infra/http/authentication.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { UserEvent } from './userEvents.ts'

export interface Membership {
  tenantId: string
  tenantName: string
  role: TenantRole
  joinedAt: string
}

export type UserState =
  | { status: 'absent' }
  | { status: 'active'; userId: string; email: string; firstName: string; lastName: string; memberships: Membership[]; createdAt: string }

export type UserCommand =
  | { type: 'registerUser'; userId: string; email: string; firstName: string; lastName: string; now: Date }
  | { type: 'joinTenant'; tenantId: string; tenantName: string; role: TenantRole; now: Date }

function registerUser(command: Extract<UserCommand, { type: 'registerUser' }>, state: UserState): UserEvent[] {
  if (state.status !== 'absent') throw invalidStatus('User already registered', state.status, ['absent'])
  const { userId, email, firstName, lastName } = command
  return [{ type: 'userRegistered', data: { userId, email, firstName, lastName, at: command.now.toISOString() } }]
}

function joinTenant(command: Extract<UserCommand, { type: 'joinTenant' }>, state: UserState): UserEvent[] {
  if (state.status !== 'active') throw invalidStatus('User is not registered', state.status, ['active'])
  if (state.memberships.some((m) => m.tenantId === command.tenantId)) {
    throw new BusinessRuleViolation('User already belongs to this tenant', 'ALREADY_MEMBER', { tenant_id: command.tenantId })
  }
  return [
    {
      type: 'userJoinedTenant',
      data: { userId: state.userId, tenantId: command.tenantId, tenantName: command.tenantName, role: command.role, at: command.now.toISOString() },
    },
  ]
}

export function decide(command: UserCommand, state: UserState): UserEvent[] {
  switch (command.type) {
    case 'registerUser':
      return registerUser(command, state)
    case 'joinTenant':
      return joinTenant(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'userRegistered':
      return { status: 'active', ...event.data, memberships: [], createdAt: event.data.at }
    case 'userJoinedTenant':
      if (state.status !== 'active') return state
      return {
        ...state,
        memberships: [...state.memberships, { tenantId: event.data.tenantId, tenantName: event.data.tenantName, role: event.data.role, joinedAt: event.data.at }],
      }
    default:
      return unreachable(event)
  }
}

export const userDecider: Decider<UserCommand, UserEvent, UserState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}

export const fullName = (user: { firstName: string; lastName: string; email: string }): string =>
  `${user.firstName} ${user.lastName}`.trim() || user.email
