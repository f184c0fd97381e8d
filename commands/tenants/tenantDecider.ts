import { BusinessRuleViolation, invalidStatus } from '../../infra/errors.ts'
import type { TenantRole } from '../../infra/http/authentication.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { TenantEvent } from './tenantEvents.ts'

export type TenantState =
  | { status: 'absent' }
  | {
      status: 'active'
      tenantId: string
      name: string
      timezone: string
      country: string
      /** user ids of the members, in the order they joined */
      memberIds: string[]
      createdAt: string
      updatedAt: string
    }

export type TenantSetting = 'name' | 'timezone' | 'country'

export type TenantCommand =
  | { type: 'createTenant'; tenantId: string; name: string; timezone: string; country: string; createdBy: Actor; now: Date }
  /** settings left out stay as they are; values arrive validated (a known zone and country) */
  | { type: 'updateTenant'; name?: string; timezone?: string; country?: string; updatedBy: Actor; now: Date }
  | { type: 'addMember'; userId: string; email: string; name: string; role: TenantRole; addedBy: Actor; now: Date }

const SETTINGS: readonly TenantSetting[] = ['name', 'timezone', 'country']

function createTenant(command: Extract<TenantCommand, { type: 'createTenant' }>, state: TenantState): TenantEvent[] {
  if (state.status !== 'absent') throw invalidStatus('Tenant already exists', state.status, ['absent'])
  return [
    {
      type: 'tenantCreated',
      data: {
        tenantId: command.tenantId,
        name: command.name,
        timezone: command.timezone,
        country: command.country,
        createdBy: { userId: command.createdBy.userId, name: command.createdBy.name },
        at: command.now.toISOString(),
      },
    },
  ]
}

function updateTenant(command: Extract<TenantCommand, { type: 'updateTenant' }>, state: TenantState): TenantEvent[] {
  if (state.status !== 'active') throw invalidStatus('Tenant does not exist', state.status, ['active'])
  const next = { name: command.name ?? state.name, timezone: command.timezone ?? state.timezone, country: command.country ?? state.country }
  const changes = SETTINGS.filter((setting) => next[setting] !== state[setting])
  if (changes.length === 0) return []
  return [
    {
      type: 'tenantUpdated',
      data: {
        tenantId: state.tenantId,
        ...next,
        changes,
        updatedBy: { userId: command.updatedBy.userId, name: command.updatedBy.name },
        at: command.now.toISOString(),
      },
    },
  ]
}

function addMember(command: Extract<TenantCommand, { type: 'addMember' }>, state: TenantState): TenantEvent[] {
  if (state.status !== 'active') throw invalidStatus('Tenant does not exist', state.status, ['active'])
  if (state.memberIds.includes(command.userId)) {
    throw new BusinessRuleViolation('User already belongs to this tenant', 'ALREADY_MEMBER', { tenant_id: state.tenantId, user_id: command.userId }, 409)
  }
  return [
    {
      type: 'tenantMemberAdded',
      data: {
        tenantId: state.tenantId,
        tenantName: state.name,
        userId: command.userId,
        email: command.email,
        name: command.name,
        role: command.role,
        addedBy: { userId: command.addedBy.userId, name: command.addedBy.name },
        at: command.now.toISOString(),
      },
    },
  ]
}

export function decide(command: TenantCommand, state: TenantState): TenantEvent[] {
  switch (command.type) {
    case 'createTenant':
      return createTenant(command, state)
    case 'updateTenant':
      return updateTenant(command, state)
    case 'addMember':
      return addMember(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: TenantState, event: TenantEvent): TenantState {
  switch (event.type) {
    case 'tenantCreated':
      return {
        status: 'active',
        tenantId: event.data.tenantId,
        name: event.data.name,
        timezone: event.data.timezone,
        country: event.data.country,
        // the creator is the first member (registration and POST /tenants/ both make them its admin)
        memberIds: event.data.createdBy.userId ? [event.data.createdBy.userId] : [],
        createdAt: event.data.at,
        updatedAt: event.data.at,
      }
    case 'tenantUpdated':
      if (state.status !== 'active') return state
      return { ...state, name: event.data.name, timezone: event.data.timezone, country: event.data.country, updatedAt: event.data.at }
    case 'tenantMemberAdded':
      if (state.status !== 'active') return state
      return { ...state, memberIds: [...state.memberIds, event.data.userId], updatedAt: event.data.at }
    default:
      return unreachable(event)
  }
}

export const tenantDecider: Decider<TenantCommand, TenantEvent, TenantState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
