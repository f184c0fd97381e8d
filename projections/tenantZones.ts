import { sql, type Kysely, type Transaction } from 'kysely'
import type { TenantEvent } from '../commands/tenants/tenantEvents.ts'
import { upsertRows } from './engine/rowWrites.ts'

/**
 * The time zone of each tenant, kept by every projection that buckets counts by local day or
 * month: from the tenant's own events, so replays bucket exactly as the live run did.
 */
export interface TenantZonesTable {
  tenant_id: string
  timezone: string
}

/** For the (impossible in practice) event of a tenant whose tenantCreated was not seen. */
export const FALLBACK_ZONE = 'Africa/Dar_es_Salaam'

/** tenantCreated sets a tenant's zone, tenantUpdated (which always carries the zone) may change it */
export const tenantZoneEventTypes = ['tenantCreated', 'tenantUpdated'] as const satisfies readonly TenantEvent['type'][]

export type TenantZoneEvent = Extract<TenantEvent, { type: (typeof tenantZoneEventTypes)[number] }>

export async function createTenantZonesTable(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tenant_zones')
    .addColumn('tenant_id', 'uuid', (c) => c.primaryKey())
    .addColumn('timezone', 'text', (c) => c.notNull())
    .execute()
}

/** One batch's view of tenant zones: loaded once, updated by tenant events, written once. */
export class TenantZones {
  readonly #trx: Transaction<any>
  readonly #zones = new Map<string, string>()
  readonly #changed = new Set<string>()

  constructor(trx: Transaction<any>) {
    this.#trx = trx
  }

  async load(tenantIds: Iterable<string>): Promise<void> {
    const ids = [...new Set(tenantIds)].filter((id) => !this.#zones.has(id))
    if (ids.length === 0) return
    const rows = await this.#trx
      .selectFrom('tenant_zones')
      .select(['tenant_id', 'timezone'])
      .where(sql<boolean>`tenant_id = any(${ids}::uuid[])`)
      .execute()
    for (const row of rows) this.#zones.set(row.tenant_id, row.timezone)
  }

  set(tenantId: string, timezone: string): void {
    this.#zones.set(tenantId, timezone)
    this.#changed.add(tenantId)
  }

  zoneOf(tenantId: string): string {
    return this.#zones.get(tenantId) ?? FALLBACK_ZONE
  }

  async save(): Promise<void> {
    await upsertRows(
      this.#trx,
      'tenant_zones',
      ['tenant_id'],
      [...this.#changed].map((tenantId) => ({ tenant_id: tenantId, timezone: this.#zones.get(tenantId)! })),
    )
  }
}

export async function tenantZone(db: Kysely<{ tenant_zones: TenantZonesTable }>, tenantId: string): Promise<string> {
  const row = await db.selectFrom('tenant_zones').select('timezone').where('tenant_id', '=', tenantId).executeTakeFirst()
  return row?.timezone ?? FALLBACK_ZONE
}
