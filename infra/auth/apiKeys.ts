import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { Clock } from '../clock.ts'
import type { MigrationSet } from '../database/migrations.ts'
import type { Principal, TenantRole } from '../http/authentication.ts'

/**
 * API keys for scripts: `mk_<prefix>_<secret>`, where the prefix (12 hex characters) names the key
 * and the secret is 32 random bytes. The key is shown once, when it is generated; the table keeps
 * its SHA-256 (a 256-bit random secret needs no slow hash), the prefix to find it by, and the
 * principal it acts as: user, tenant and the role the user had there when the key was made.
 * Keys live outside the event log, like passwords.
 */
export interface ApiKeysTable {
  id: string
  prefix: string
  key_hash: string
  name: string
  user_id: string
  tenant_id: string
  role: TenantRole
  /** the owner's display name and email, for the principal (kept current on profile changes) */
  user_name: string
  user_email: string
  created_at: Date
  last_used_at: Date | null
  revoked_at: Date | null
}

export interface ApiKeyTables {
  api_keys: ApiKeysTable
}

export type ApiKeyRow = Selectable<ApiKeysTable>

export const apiKeyMigrations: MigrationSet = {
  '20261122120200_api_keys': {
    async up(db) {
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('prefix', 'text', (c) => c.notNull().unique())
        .addColumn('key_hash', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('tenant_id', 'uuid', (c) => c.notNull())
        .addColumn('role', 'text', (c) => c.notNull())
        .addColumn('user_name', 'text', (c) => c.notNull())
        .addColumn('user_email', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('last_used_at', 'timestamptz')
        .addColumn('revoked_at', 'timestamptz')
        .execute()
      await db.schema.createIndex('api_keys_user_tenant').on('api_keys').columns(['user_id', 'tenant_id']).execute()
    },
    async down(db) {
      await db.schema.dropTable('api_keys').ifExists().execute()
    },
  },
}

const KEY_PATTERN = /^mk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/

const hashKey = (key: string): Buffer => createHash('sha256').update(key, 'utf8').digest()

/** A fresh key: its clear text (to show once), its prefix and the hash to store. */
export function newApiKey(): { key: string; prefix: string; keyHash: string } {
  const prefix = randomBytes(6).toString('hex')
  const key = `mk_${prefix}_${randomBytes(32).toString('base64url')}`
  return { key, prefix, keyHash: hashKey(key).toString('hex') }
}

export interface NewApiKey {
  name: string
  userId: string
  tenantId: string
  role: TenantRole
  userName: string
  userEmail: string
  now: Date
}

interface CachedKey {
  row: ApiKeyRow | null
  fetchedAt: number
}

/**
 * The api_keys table with a small in-process cache for verification: a key presented on every
 * request of a script costs one indexed lookup (by prefix) per `ttlMs` (10 s by default), then a
 * constant-time comparison of hashes. Revoking a key in this process takes effect at once; in
 * other processes within `ttlMs`. `last_used_at` is written at most once a minute per key.
 */
export class ApiKeyStore {
  readonly #db: Kysely<ApiKeyTables>
  readonly #clock: Clock
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #cache = new Map<string, CachedKey>()

  constructor(db: Kysely<ApiKeyTables>, clock: Clock, options: { ttlMs?: number; maxEntries?: number } = {}) {
    this.#db = db
    this.#clock = clock
    this.#ttlMs = options.ttlMs ?? 10_000
    this.#maxEntries = options.maxEntries ?? 10_000
  }

  /** Stores a new key and returns its row and its clear text (never stored). */
  async generate(input: NewApiKey): Promise<{ key: string; row: ApiKeyRow }> {
    const { key, prefix, keyHash } = newApiKey()
    const row: ApiKeyRow = {
      id: randomUUID(),
      prefix,
      key_hash: keyHash,
      name: input.name,
      user_id: input.userId,
      tenant_id: input.tenantId,
      role: input.role,
      user_name: input.userName,
      user_email: input.userEmail,
      created_at: input.now,
      last_used_at: null,
      revoked_at: null,
    }
    await this.#db.insertInto('api_keys').values(row).execute()
    return { key, row }
  }

  async findById(id: string): Promise<ApiKeyRow | undefined> {
    return this.#db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst()
  }

  async findByPrefix(prefix: string): Promise<ApiKeyRow | undefined> {
    return this.#db.selectFrom('api_keys').selectAll().where('prefix', '=', prefix).executeTakeFirst()
  }

  /** The tenant's keys of one user, newest first (hashes left out). */
  async listFor(userId: string, tenantId: string): Promise<Omit<ApiKeyRow, 'key_hash'>[]> {
    return this.#db
      .selectFrom('api_keys')
      .select(['id', 'prefix', 'name', 'user_id', 'tenant_id', 'role', 'user_name', 'user_email', 'created_at', 'last_used_at', 'revoked_at'])
      .where('user_id', '=', userId)
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at', 'desc')
      .execute()
  }

  /** Revokes the key; the revoked row, or undefined when it was already revoked (or is unknown). */
  async revoke(id: string, at: Date): Promise<ApiKeyRow | undefined> {
    const row = await this.#db
      .updateTable('api_keys')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .returningAll()
      .executeTakeFirst()
    if (row) this.#cache.delete(row.prefix)
    return row
  }

  /** Keeps the owner's name and email on their keys current (after a profile change). */
  async renameOwner(userId: string, name: string, email: string): Promise<void> {
    const rows = await this.#db.updateTable('api_keys').set({ user_name: name, user_email: email }).where('user_id', '=', userId).returning('prefix').execute()
    for (const row of rows) this.#cache.delete(row.prefix)
  }

  /** The principal a presented key acts as, or null for a malformed, unknown or revoked key. */
  async verify(key: string): Promise<Principal | null> {
    const match = KEY_PATTERN.exec(key)
    if (!match) return null
    const row = await this.#lookup(match[1]!)
    if (!row || row.revoked_at) return null
    const expected = Buffer.from(row.key_hash, 'hex')
    const presented = hashKey(key)
    if (expected.length !== presented.length || !timingSafeEqual(expected, presented)) return null
    await this.#touch(row)
    return {
      userId: row.user_id,
      tenantId: row.tenant_id,
      role: row.role,
      name: row.user_name,
      email: row.user_email,
      authenticatedWith: 'api_key',
    }
  }

  async #lookup(prefix: string): Promise<ApiKeyRow | null> {
    const now = this.#clock.now().getTime()
    const cached = this.#cache.get(prefix)
    if (cached && now >= cached.fetchedAt && now - cached.fetchedAt < this.#ttlMs) return cached.row
    const row = (await this.findByPrefix(prefix)) ?? null
    // unknown prefixes are not cached: guessing cannot fill the cache
    if (row) this.#remember(prefix, { row, fetchedAt: now })
    else this.#cache.delete(prefix)
    return row
  }

  #remember(prefix: string, entry: CachedKey): void {
    this.#cache.delete(prefix)
    if (this.#cache.size >= this.#maxEntries) {
      const oldest = this.#cache.keys().next()
      if (!oldest.done) this.#cache.delete(oldest.value)
    }
    this.#cache.set(prefix, entry)
  }

  async #touch(row: ApiKeyRow): Promise<void> {
    const now = this.#clock.now()
    if (row.last_used_at && now.getTime() - new Date(row.last_used_at).getTime() < 60_000 && now >= new Date(row.last_used_at)) return
    row.last_used_at = now
    await this.#db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', row.id).execute()
  }
}
