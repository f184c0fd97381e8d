import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { streamName } from '../../infra/eventStore/eventStore.ts'
import { loadAggregate } from '../commandExecution.ts'
import { tenantDecider, type TenantState } from './tenantDecider.ts'

export const tenantStream = (tenantId: string): string => streamName('tenant', tenantId)

export type ActiveTenant = Extract<TenantState, { status: 'active' }>

/** The tenant's current settings (name, time zone, default country), or null when it does not exist. */
export async function findTenant(store: EventStore, tenantId: string): Promise<ActiveTenant | null> {
  const { state } = await loadAggregate(store, tenantStream(tenantId), tenantDecider)
  return state.status === 'active' ? state : null
}
