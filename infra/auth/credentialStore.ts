import { sql, type Generated, type Insertable, type Kysely, type Selectable } from 'kysely'
import type { MigrationSet } from '../database/migrations.ts'

/**
 * Login credentials live outside the event log (events carry no secrets): one row per user with
 * the unique email and the password hash. The user's profile and memberships are events.
 */
export interface UserCredentialsTable {
  user_id: string
  email: string
  password_hash: string
  created_at: Generated<Date>
  password_changed_at: Generated<Date>
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
