import { sql, type Generated, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { MigrationSet } from '../database/migrations.ts'

/**
 * Login credentials live outside the event log (events carry no secrets): one row per user with
 * the unique email and the password hash. The user's profile and memberships are events.
 *
 * `credential_version` counts password changes. Every token carries the version it was issued
 * under (claim `cv`); a password change or reset raises it, and tokens of an older version are
 * refused from then on (refresh tokens at once, access tokens within the cache's lifetime, see
 * CredentialVersionCache). A counter rather than a comparison of `iat` with `password_changed_at`:
 * `iat` has one-second resolution and comes from the wall clock, while the service's time is the
 * injected clock; a counter is exact whatever the clocks say.
 */
export interface UserCredentialsTable {
  user_id: string
  email: string
  password_hash: string
  created_at: Generated<Date>
  password_changed_at: Generated<Date>
  credential_version: Generated<number>
  /**
   * An operator of the whole platform (not of one tenant): their tokens carry `padm: true` and the
   * admin endpoints (/api/admin/…) are theirs. Set only by ops (`mifumo admin grant`), never over
   * HTTP; read whenever tokens are issued (login, refresh, tenant switch, `mifumo token`).
   */
  is_platform_admin: Generated<boolean>
}

export interface CredentialTables {
  user_credentials: UserCredentialsTable
}

export type UserCredentials = Selectable<UserCredentialsTable>
export type NewUserCredentials = Insertable<UserCredentialsTable>

export const credentialMigrations: MigrationSet = {
  '20261122081000_user_credentials': {
    async up(db) {
      await db.schema
        .createTable('user_credentials')
        .addColumn('user_id', 'uuid', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addColumn('password_changed_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute()
    },
    async down(db) {
      await db.schema.dropTable('user_credentials').ifExists().execute()
    },
  },
  '20261122120000_user_credential_version': {
    async up(db) {
      await db.schema
        .alterTable('user_credentials')
        .addColumn('credential_version', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()
    },
    async down(db) {
      await db.schema.alterTable('user_credentials').dropColumn('credential_version').execute()
    },
  },
  '20261210090000_platform_admins': {
    async up(db) {
      await db.schema
        .alterTable('user_credentials')
        .addColumn('is_platform_admin', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute()
    },
    async down(db) {
      await db.schema.alterTable('user_credentials').dropColumn('is_platform_admin').execute()
    },
  },
}

/** Inserts the row; false when the email is taken. */
export async function insertCredentials(db: Kysely<CredentialTables>, row: NewUserCredentials): Promise<boolean> {
  const result = await db.insertInto('user_credentials').values(row).onConflict((oc) => oc.column('email').doNothing()).executeTakeFirst()
  return Number(result.numInsertedOrUpdatedRows ?? 0) === 1
}

export async function findCredentialsByEmail(db: Kysely<CredentialTables>, email: string): Promise<UserCredentials | undefined> {
  return db.selectFrom('user_credentials').selectAll().where('email', '=', email).executeTakeFirst()
}

export async function deleteCredentials(db: Kysely<CredentialTables>, userId: string): Promise<void> {
  await db.deleteFrom('user_credentials').where('user_id', '=', userId).execute()
}

export async function findCredentialsByUserId(db: Kysely<CredentialTables>, userId: string): Promise<UserCredentials | undefined> {
  return db.selectFrom('user_credentials').selectAll().where('user_id', '=', userId).executeTakeFirst()
}

/** The user's current credential version, or null when the user has no credentials. */
export async function credentialVersionOf(db: Kysely<CredentialTables>, userId: string): Promise<number | null> {
  const row = await db.selectFrom('user_credentials').select('credential_version').where('user_id', '=', userId).executeTakeFirst()
  return row ? row.credential_version : null
}

/** What a token issued now carries for the user, or null when the user has no credentials. */
export async function credentialStatusOf(db: Kysely<CredentialTables>, userId: string): Promise<{ version: number; platformAdmin: boolean } | null> {
  const row = await db.selectFrom('user_credentials').select(['credential_version', 'is_platform_admin']).where('user_id', '=', userId).executeTakeFirst()
  return row ? { version: row.credential_version, platformAdmin: row.is_platform_admin } : null
}

/** Whether the user is a platform administrator now (false for a user without credentials). */
export async function isPlatformAdmin(db: Kysely<CredentialTables>, userId: string): Promise<boolean> {
  const row = await db.selectFrom('user_credentials').select('is_platform_admin').where('user_id', '=', userId).executeTakeFirst()
  return row?.is_platform_admin === true
}

export interface PlatformAdminChange {
  userId: string
  email: string
  /** false when the user already had (grant) or already lacked (revoke) the flag */
  changed: boolean
}

/**
 * Grants (`admin` true) or revokes the platform-admin flag of the user with this email; null when
 * no user has it. Tokens issued from then on say so (sign-in, refresh, tenant switch); an access
 * token issued before keeps its claim until it expires (JWT_ACCESS_TTL, 15 minutes by default).
 */
export async function setPlatformAdmin(db: Kysely<CredentialTables>, emailInput: string, admin: boolean): Promise<PlatformAdminChange | null> {
  const email = emailInput.trim().toLowerCase()
  const changed = await db
    .updateTable('user_credentials')
    .set({ is_platform_admin: admin })
    .where('email', '=', email)
    .where('is_platform_admin', '=', !admin)
    .returning(['user_id', 'email'])
    .executeTakeFirst()
  if (changed) return { userId: changed.user_id, email: changed.email, changed: true }
  const existing = await findCredentialsByEmail(db, email)
  return existing ? { userId: existing.user_id, email: existing.email, changed: false } : null
}

/** Every platform administrator, by email. */
export async function listPlatformAdmins(db: Kysely<CredentialTables>): Promise<{ userId: string; email: string; createdAt: Date }[]> {
  const rows = await db.selectFrom('user_credentials').select(['user_id', 'email', 'created_at']).where('is_platform_admin', '=', true).orderBy('email').execute()
  return rows.map((row) => ({ userId: row.user_id, email: row.email, createdAt: new Date(row.created_at) }))
}

/**
 * Replaces the password hash and raises the credential version (revoking every token issued
 * before); returns the new version, or null when the user has no credentials, or when
 * `expectedHash` is given and the stored hash is no longer that one (a concurrent change won).
 */
export async function replacePassword(
  db: Kysely<CredentialTables>,
  userId: string,
  passwordHash: string,
  at: Date,
  expectedHash?: string,
): Promise<number | null> {
  let update = db
    .updateTable('user_credentials')
    .set({ password_hash: passwordHash, password_changed_at: at, credential_version: sql<number>`credential_version + 1` })
    .where('user_id', '=', userId)
  if (expectedHash !== undefined) update = update.where('password_hash', '=', expectedHash)
  const row = await update.returning('credential_version').executeTakeFirst()
  return row ? row.credential_version : null
}

/**
 * The credential version of each user, as the `authenticate` preHandler checks it on every request
 * with an access token: cached in this process for `ttlMs` (10 s by default), so a busy user costs
 * one indexed lookup per ten seconds, not one per request. A change made by this process is
 * remembered at once; one made by another process is seen here within `ttlMs`, so an access token
 * issued before a password change dies at the latest `ttlMs` after it (refresh tokens are checked
 * against the database itself, at once).
 */
export class CredentialVersionCache {
  readonly #db: Kysely<CredentialTables>
  readonly #now: () => number
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #entries = new Map<string, { version: number | null; fetchedAt: number }>()
  readonly #lookups = new Map<string, Promise<number | null>>()

  constructor(db: Kysely<CredentialTables>, now: () => number, options: { ttlMs?: number; maxEntries?: number } = {}) {
    this.#db = db
    this.#now = now
    this.#ttlMs = options.ttlMs ?? 10_000
    this.#maxEntries = options.maxEntries ?? 10_000
  }

  /** The user's version if this cache holds it fresh (null: no credentials); `undefined`: ask `current`. */
  known(userId: string): number | null | undefined {
    const cached = this.#entries.get(userId)
    if (cached === undefined) return undefined
    const now = this.#now()
    return now - cached.fetchedAt < this.#ttlMs && now >= cached.fetchedAt ? cached.version : undefined
  }

  /** The user's credential version (null: no credentials, every token refused). */
  async current(userId: string): Promise<number | null> {
    const cached = this.known(userId)
    if (cached !== undefined) return cached
    // the requests that find the entry expired together share one lookup
    let lookup = this.#lookups.get(userId)
    if (!lookup) {
      lookup = credentialVersionOf(this.#db, userId).finally(() => this.#lookups.delete(userId))
      this.#lookups.set(userId, lookup)
      const version = await lookup
      this.remember(userId, version)
      return version
    }
    return lookup
  }

  /** Records a version this process has just written (or read). */
  remember(userId: string, version: number | null): void {
    this.#entries.delete(userId)
    if (this.#entries.size >= this.#maxEntries) {
      // the oldest entry goes first (a Map iterates in insertion order)
      const oldest = this.#entries.keys().next()
      if (!oldest.done) this.#entries.delete(oldest.value)
    }
    this.#entries.set(userId, { version, fetchedAt: this.#now() })
  }
}
