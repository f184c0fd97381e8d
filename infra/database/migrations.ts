import { Migrator, type Kysely, type Migration } from 'kysely'

/**
 * Timestamped schema migrations (`YYYYMMDDHHMMSS_what`), each with `up` and `down`. Modules export
 * their own; the composition root merges them and runs them at start-up, in name order, under
 * Kysely's migration lock so two processes starting together do not race.
 */
export type MigrationSet = Record<string, Migration>

export function mergeMigrations(...sets: MigrationSet[]): MigrationSet {
  const merged: MigrationSet = {}
  for (const set of sets) {
    for (const [name, migration] of Object.entries(set)) {
      if (!/^\d{14}_[a-z0-9_]+$/.test(name)) throw new Error(`migration name "${name}" must look like 20261122080000_what_it_does`)
      if (merged[name]) throw new Error(`two migrations are named "${name}"`)
      merged[name] = migration
    }
  }
  return merged
}

export async function migrateToLatest(db: Kysely<any>, migrations: MigrationSet): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const { error, results } = await migrator.migrateToLatest()
  if (error) throw error instanceof Error ? error : new Error(String(error))
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}
