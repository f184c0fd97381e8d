import { createHash, randomBytes } from 'node:crypto'
import type { Kysely, Selectable } from 'kysely'
import type { MigrationSet } from '../database/migrations.ts'

/**
 * One-time tokens sent by mail (password reset, email verification): 32 random bytes, handed to
 * the user once; only their SHA-256 is stored, so a leaked table cannot be replayed. Each token
 * has a purpose, an expiry and is used at most once (the use is one conditional UPDATE, so two
 * concurrent uses cannot both succeed). Like credentials, they live outside the event log.
 */
export type TokenPurpose = 'password_reset' | 'email_verification'

export interface OneTimeTokensTable {
  token_hash: string
  purpose: TokenPurpose
  user_id: string
  /** the address the token was sent to */
  email: string
  created_at: Date
  expires_at: Date
  used_at: Date | null
}

export interface OneTimeTokenTables {
  one_time_tokens: OneTimeTokensTable
}

export type OneTimeToken = Selectable<OneTimeTokensTable>

export const oneTimeTokenMigrations: MigrationSet = {
  '20261122120100_one_time_tokens': {
    async up(db) {
      await db.schema
        .createTable('one_time_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('user_id', 'uuid', (c) => c.notNull())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('used_at', 'timestamptz')
        .execute()
      await db.schema.createIndex('one_time_tokens_user').on('one_time_tokens').columns(['user_id', 'purpose']).execute()
    },
    async down(db) {
      await db.schema.dropTable('one_time_tokens').ifExists().execute()
    },
  },
}

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex')

/** Creates a token for the user and returns it in clear text (the only time it exists so). */
export async function issueOneTimeToken(
  db: Kysely<OneTimeTokenTables>,
  input: { purpose: TokenPurpose; userId: string; email: string; now: Date; ttlMs: number },
): Promise<{ token: string; expiresAt: Date }> {
  const token = randomBytes(32).toString('base64url')
  const expiresAt = new Date(input.now.getTime() + input.ttlMs)
  // housekeeping: the user's spent and expired tokens of this purpose are of no further use
  await db
    .deleteFrom('one_time_tokens')
    .where('user_id', '=', input.userId)
    .where('purpose', '=', input.purpose)
    .where((eb) => eb.or([eb('expires_at', '<=', input.now), eb('used_at', 'is not', null)]))
    .execute()
  await db
    .insertInto('one_time_tokens')
    .values({
      token_hash: hashToken(token),
      purpose: input.purpose,
      user_id: input.userId,
      email: input.email,
      created_at: input.now,
      expires_at: expiresAt,
      used_at: null,
    })
    .execute()
  return { token, expiresAt }
}

export type TokenUse = { ok: true; token: OneTimeToken } | { ok: false; reason: 'unknown' | 'used' | 'expired' }

/** Uses the token if it exists for this purpose, is unused and unexpired at `now`; else says why not. */
export async function useOneTimeToken(db: Kysely<OneTimeTokenTables>, purpose: TokenPurpose, token: string, now: Date): Promise<TokenUse> {
  const tokenHash = hashToken(token)
  const used = await db
    .updateTable('one_time_tokens')
    .set({ used_at: now })
    .where('token_hash', '=', tokenHash)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .where('expires_at', '>', now)
    .returningAll()
    .executeTakeFirst()
  if (used) return { ok: true, token: used }
  const row = await db.selectFrom('one_time_tokens').select(['used_at']).where('token_hash', '=', tokenHash).where('purpose', '=', purpose).executeTakeFirst()
  if (!row) return { ok: false, reason: 'unknown' }
  return { ok: false, reason: row.used_at ? 'used' : 'expired' }
}

/** Gives a token back after the work it was used for failed, so the user can try it again. */
export async function releaseOneTimeToken(db: Kysely<OneTimeTokenTables>, token: string): Promise<void> {
  await db.updateTable('one_time_tokens').set({ used_at: null }).where('token_hash', '=', hashToken(token)).execute()
}

/** Marks every unused token of the user for this purpose as used (after a password change, say). */
export async function retireOneTimeTokens(db: Kysely<OneTimeTokenTables>, userId: string, purpose: TokenPurpose, now: Date): Promise<void> {
  await db
    .updateTable('one_time_tokens')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .execute()
}
