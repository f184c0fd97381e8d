import { randomBytes } from 'node:crypto'
import pg from 'pg'

/** A fresh, empty PostgreSQL database of a benchmark on the server of `postgresUrl`; drop() removes it. */
export interface BenchDatabase {
  url: string
  name: string
  drop(): Promise<void>
}

/**
 * `settings` are set on the database (`alter database … set`), for sessions opened afterwards:
 * a bulk load may turn `synchronous_commit` off, say, and reset it before measuring.
 */
export async function createBenchDatabase(postgresUrl: string, label: string, settings: Record<string, string> = {}): Promise<BenchDatabase> {
  const name = `mifumo_bench_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 24)}_${randomBytes(4).toString('hex')}`
  await onMaintenanceConnection(postgresUrl, async (client) => {
    await client.query(`create database ${pg.escapeIdentifier(name)}`)
    for (const [setting, value] of Object.entries(settings)) {
      await client.query(`alter database ${pg.escapeIdentifier(name)} set ${pg.escapeIdentifier(setting)} = ${pg.escapeLiteral(value)}`)
    }
  })
  const url = new URL(postgresUrl)
  url.pathname = `/${name}`
  let dropped: Promise<void> | undefined
  return {
    url: url.toString(),
    name,
    drop() {
      dropped ??= onMaintenanceConnection(postgresUrl, (client) => client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`)).then(() => undefined)
      return dropped
    },
  }
}

/** `show server_version` of the server. */
export async function postgresServerVersion(postgresUrl: string): Promise<string> {
  return onMaintenanceConnection(postgresUrl, async (client) => String((await client.query('show server_version')).rows[0]?.server_version ?? 'unknown'))
}

async function onMaintenanceConnection<T>(postgresUrl: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: postgresUrl })
  await client.connect()
  try {
    return await work(client)
  } finally {
    await client.end()
  }
}
