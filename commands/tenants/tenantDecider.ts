import { invalidStatus } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { TenantEvent } from './tenantEvents.ts'

export type TenantState =
  | { status: 'absent' }
  | { status: 'active'; tenantId: string; name: string; timezone: string; country: string; createdAt: string }

export type TenantCommand = {
  type: 'createTenant'
  tenantId: string
  name: string
  timezone: string
  country: string
  createdBy: Actor
  now: Date
}

function createTenant(command: TenantCommand, state: TenantState): TenantEvent[] {
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

export function decide(command: TenantCommand, state: TenantState): TenantEvent[] {
  switch (command.type) {
    case 'createTenant':
      return createTenant(command, state)
    default:
      return unreachable(command.type)
  }
}

export function evolve(_state: TenantState, event: TenantEvent): TenantState {
  switch (event.type) {
    case 'tenantCreated':
      return {
        status: 'active',
        tenantId: event.data.tenantId,
        name: event.data.name,
        timezone: event.data.timezone,
        country: event.data.country,
        createdAt: event.data.at,
      }
    default:
      return unreachable(event.type)
  }
}

export const tenantDecider: Decider<TenantCommand, TenantEvent, TenantState> = {
  initialState: { status: 'absent' },
  evolve,
  decide,
}
