import { randomBytes } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../clock.ts'
import type { MigrationSet } from '../database/migrations.ts'

/**
 * Each tenant's webhook secret: the key that signs the delivery reports and inbound messages
 * providers post to us (see webhookSignature.ts). It lives outside the event log (events carry no
 * secrets), one row per tenant, created on first use: when an admin first asks for it, or when
 * the built-in simulator first signs a report for the tenant.
 *
 * Stored as given, not hashed: checking an HMAC needs the key itself. Whoever can read this table
 * can sign webhooks for every tenant, so it deserves the protection of the credentials tables
 * (database access, backups). All reads and writes go through WebhookSecretStore, the one place
 * that would change to encrypt them at rest.
 *
 * Rotation replaces the secret; the one it replaces keeps verifying for a grace period (24 hours by
 * default) so senders can move over without dropping calls. Rotating again within that period
 * retires the older one at once: at most two secrets are ever valid.
 */
export interface TenantWebhookSecretsTable {
  tenant_id: string
  secret: string
  /** the secret before the last rotation, valid until previous_valid_until */
  previous_secret: string | null
  previous_valid_until: Date | null
  created_at: Date
  rotated_at: Date | null
}

export interface WebhookSecretTables {
  tenant_webhook_secrets: TenantWebhookSecretsTable
}

export const webhookSecretMigrations: MigrationSet = {
  '20261201090000_tenant_webhook_secrets': {
    async up(db) {
      await db.schema
        .createTable('tenant_webhook_secrets')
        .addColumn('tenant_id', 'uuid', (c) => c.primaryKey())
        .addColumn('secret', 'text', (c) => c.notNull())
        .addColumn('previous_secret', 'text')
        .addColumn('previous_valid_until', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('rotated_at', 'timestamptz')
        .execute()
    },
    async down(db) {
      await db.schema.dropTable('tenant_webhook_secrets').ifExists().execute()
    },
  },
}

export const DEFAULT_ROTATION_GRACE_MS = 24 * 60 * 60 * 1000

/** A fresh secret: `whsec_` and 32 random bytes in base64url. */
export const newWebhookSecret = (): string => `whsec_${randomBytes(32).toString('base64url')}`

export interface WebhookSecret {
  tenantId: string
  secret: string
  createdAt: Date
  rotatedAt: Date | null
  /** until when the secret the last rotation replaced still verifies; null when none does */
  previousValidUntil: Date | null
}

interface CachedSecrets {
  secrets: string[]
  fetchedAt: number
  /** when the previous secret stops verifying (the cached list must not outlive it) */
  expiresAt: number
}

/**
 * The table behind the webhook secrets, with small caches for verification and signing (one
 * indexed read per tenant per `cacheTtlMs`, 10 s by default, instead of one per call). A rotation
 * is seen at once in this process and within `cacheTtlMs` in others; the old secret verifies
 * during its grace period anyway.
 */
export class WebhookSecretStore {
  readonly #db: Kysely<WebhookSecretTables>
  readonly #clock: Clock
  readonly #graceMs: number
  readonly #cacheTtlMs: number
  readonly #maxEntries: number
  readonly #cache = new Map<string, CachedSecrets>()
  /** the current secret per tenant, for signing (the simulator signs every report it hands over) */
  readonly #currentCache = new Map<string, { secret: WebhookSecret; fetchedAt: number }>()

  constructor(db: Kysely<any>, clock: Clock, options: { graceMs?: number; cacheTtlMs?: number; maxEntries?: number } = {}) {
    this.#db = db as Kysely<WebhookSecretTables>
    this.#clock = clock
    this.#graceMs = options.graceMs ?? DEFAULT_ROTATION_GRACE_MS
    this.#cacheTtlMs = options.cacheTtlMs ?? 10_000
    this.#maxEntries = options.maxEntries ?? 10_000
  }

  get graceMs(): number {
    return this.#graceMs
  }

  /**
   * The tenant's current secret, created if it has none yet. The caller makes sure the tenant
   * exists (this store knows nothing of tenants). `cached`: an answer up to `cacheTtlMs` old will
   * do (for signing: a secret rotated meanwhile by another process still verifies).
   */
  async current(tenantId: string, options: { cached?: boolean } = {}): Promise<WebhookSecret> {
    const now = this.#clock.now().getTime()
    const cached = this.#currentCache.get(tenantId)
    if (options.cached && cached && now >= cached.fetchedAt && now - cached.fetchedAt < this.#cacheTtlMs) return cached.secret
    const found = (await this.#find(tenantId)) ?? (await this.#create(tenantId))
    this.#currentCache.delete(tenantId)
    if (this.#currentCache.size >= this.#maxEntries) {
      const oldest = this.#currentCache.keys().next()
      if (!oldest.done) this.#currentCache.delete(oldest.value)
    }
    this.#currentCache.set(tenantId, { secret: found, fetchedAt: now })
    return found
  }

  async #create(tenantId: string): Promise<WebhookSecret> {
    await this.#db
      .insertInto('tenant_webhook_secrets')
      .values({ tenant_id: tenantId, secret: newWebhookSecret(), previous_secret: null, previous_valid_until: null, created_at: this.#clock.now(), rotated_at: null })
      .onConflict((conflict) => conflict.column('tenant_id').doNothing())
      .execute()
    // a concurrent first use may have won: both answer the row that is there
    const created = await this.#find(tenantId)
    if (!created) throw new Error(`webhook secret of tenant ${tenantId} vanished after it was created`)
    return created
  }

  /**
   * Replaces the tenant's secret with a new one; the replaced one keeps verifying for the grace
   * period (an older previous one stops at once). Creates the first one when there is none.
   */
  async rotate(tenantId: string): Promise<WebhookSecret> {
    const existing = await this.#find(tenantId)
    if (!existing) {
      this.#currentCache.delete(tenantId)
      return this.current(tenantId)
    }
    const now = this.#clock.now()
    const row = await this.#db
      .updateTable('tenant_webhook_secrets')
      .set((eb) => ({
        previous_secret: eb.ref('secret'),
        previous_valid_until: new Date(now.getTime() + this.#graceMs),
        secret: newWebhookSecret(),
        rotated_at: now,
      }))
      .where('tenant_id', '=', tenantId)
      .returningAll()
      .executeTakeFirstOrThrow()
    this.#cache.delete(tenantId)
    this.#currentCache.delete(tenantId)
    return secretOf(row)
  }

  /**
   * The secrets that may sign a call of this tenant now: the current one, and the previous one
   * during its grace period. Empty for a tenant that has none (nobody can have signed for it).
   */
  async verificationSecrets(tenantId: string): Promise<string[]> {
    const now = this.#clock.now().getTime()
    const cached = this.#cache.get(tenantId)
    if (cached && now >= cached.fetchedAt && now - cached.fetchedAt < this.#cacheTtlMs && now < cached.expiresAt) return cached.secrets
    const row = await this.#db.selectFrom('tenant_webhook_secrets').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst()
    if (!row) {
      // unknown tenants are not cached: guessing ids cannot fill the cache
      this.#cache.delete(tenantId)
      return []
    }
    const previousUntil = row.previous_valid_until ? new Date(row.previous_valid_until).getTime() : null
    const previousValid = row.previous_secret !== null && previousUntil !== null && previousUntil > now
    const secrets = previousValid ? [row.secret, row.previous_secret!] : [row.secret]
    this.#remember(tenantId, { secrets, fetchedAt: now, expiresAt: previousValid ? previousUntil! : Number.POSITIVE_INFINITY })
    return secrets
  }

  async #find(tenantId: string): Promise<WebhookSecret | null> {
    const row = await this.#db.selectFrom('tenant_webhook_secrets').selectAll().where('tenant_id', '=', tenantId).executeTakeFirst()
    return row ? secretOf(row) : null
  }

  #remember(tenantId: string, entry: CachedSecrets): void {
    this.#cache.delete(tenantId)
    if (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next()
      if (!oldest.done) this.#cache.delete(oldest.value)
    }
    this.#cache.set(tenantId, entry)
  }
}

function secretOf(row: TenantWebhookSecretsTable): WebhookSecret {
  return {
    tenantId: row.tenant_id,
    secret: row.secret,
    createdAt: new Date(row.created_at),
    rotatedAt: row.rotated_at ? new Date(row.rotated_at) : null,
    previousValidUntil: row.previous_secret && row.previous_valid_until ? new Date(row.previous_valid_until) : null,
  }
}
