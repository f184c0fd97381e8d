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
  | {
      status: 'active'
      userId: string
      email: string
      firstName: string
      lastName: string
      emailVerified: boolean
      memberships: Membership[]
      createdAt: string
      /** the time of the user's last event */
      updatedAt: string
    }

export type UserCommand =
  | { type: 'registerUser'; userId: string; email: string; firstName: string; lastName: string; now: Date }
  | { type: 'joinTenant'; tenantId: string; tenantName: string; role: TenantRole; now: Date }
  /** names left out stay as they are */
  | { type: 'updateProfile'; firstName?: string; lastName?: string; now: Date }
  /** `email`: the address the used verification token was sent to */
  | { type: 'verifyEmail'; email: string; now: Date }
  /** records that the credentials table has a new password hash (the hash itself is no fact of ours) */
  | { type: 'recordPasswordChange'; method: 'change' | 'reset'; now: Date }

function registerUser(command: Extract<UserCommand, { type: 'registerUser' }>, state: UserState): UserEvent[] {
  if (state.status !== 'absent') throw invalidStatus('User already registered', state.status, ['absent'])
  const { userId, email, firstName, lastName } = command
  return [{ type: 'userRegistered', data: { userId, email, firstName, lastName, at: command.now.toISOString() } }]
}

function joinTenant(command: Extract<UserCommand, { type: 'joinTenant' }>, state: UserState): UserEvent[] {
  if (state.status !== 'active') throw invalidStatus('User is not registered', state.status, ['active'])
  if (state.memberships.some((m) => m.tenantId === command.tenantId)) {
    throw new BusinessRuleViolation('User already belongs to this tenant', 'ALREADY_MEMBER', { tenant_id: command.tenantId, user_id: state.userId }, 409)
  }
  return [
    {
      type: 'userJoinedTenant',
      data: { userId: state.userId, tenantId: command.tenantId, tenantName: command.tenantName, role: command.role, at: command.now.toISOString() },
    },
  ]
}

function updateProfile(command: Extract<UserCommand, { type: 'updateProfile' }>, state: UserState): UserEvent[] {
  if (state.status !== 'active') throw invalidStatus('User is not registered', state.status, ['active'])
  const firstName = command.firstName ?? state.firstName
  const lastName = command.lastName ?? state.lastName
  if (firstName === state.firstName && lastName === state.lastName) return []
  return [{ type: 'userProfileUpdated', data: { userId: state.userId, email: state.email, firstName, lastName, at: command.now.toISOString() } }]
}

function verifyEmail(command: Extract<UserCommand, { type: 'verifyEmail' }>, state: UserState): UserEvent[] {
  if (state.status !== 'active') throw invalidStatus('User is not registered', state.status, ['active'])
  if (command.email !== state.email) {
    throw new BusinessRuleViolation('The token was sent to another email address', 'EMAIL_MISMATCH', { email: command.email })
  }
  if (state.emailVerified) return []
  return [{ type: 'userEmailVerified', data: { userId: state.userId, email: state.email, at: command.now.toISOString() } }]
}

function recordPasswordChange(command: Extract<UserCommand, { type: 'recordPasswordChange' }>, state: UserState): UserEvent[] {
  if (state.status !== 'active') throw invalidStatus('User is not registered', state.status, ['active'])
  return [{ type: 'userPasswordChanged', data: { userId: state.userId, method: command.method, at: command.now.toISOString() } }]
}

export function decide(command: UserCommand, state: UserState): UserEvent[] {
  switch (command.type) {
    case 'registerUser':
      return registerUser(command, state)
    case 'joinTenant':
      return joinTenant(command, state)
    case 'updateProfile':
      return updateProfile(command, state)
    case 'verifyEmail':
      return verifyEmail(command, state)
    case 'recordPasswordChange':
      return recordPasswordChange(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'userRegistered':
      return {
        status: 'active',
        userId: event.data.userId,
        email: event.data.email,
        firstName: event.data.firstName,
        lastName: event.data.lastName,
        emailVerified: false,
        memberships: [],
        createdAt: event.data.at,
        updatedAt: event.data.at,
      }
    case 'userJoinedTenant':
      if (state.status !== 'active') return state
      return {
        ...state,
        memberships: [...state.memberships, { tenantId: event.data.tenantId, tenantName: event.data.tenantName, role: event.data.role, joinedAt: event.data.at }],
        updatedAt: event.data.at,
      }
    case 'userProfileUpdated':
      if (state.status !== 'active') return state
      return { ...state, firstName: event.data.firstName, lastName: event.data.lastName, updatedAt: event.data.at }
    case 'userEmailVerified':
      if (state.status !== 'active') return state
      return { ...state, emailVerified: true, updatedAt: event.data.at }
    case 'userPasswordChanged':
      if (state.status !== 'active') return state
      return { ...state, updatedAt: event.data.at }
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
