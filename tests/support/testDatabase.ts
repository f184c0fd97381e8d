import { randomBytes } from 'node:crypto'
import pg from 'pg'

/**
 * Each test file gets its own PostgreSQL database on the test server (TEST_POSTGRES_URL, default
 * postgres://postgres@127.0.0.1:5432/postgres), created empty and dropped when the file ends.
 */
export const adminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

export const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface TestDatabase {
  url: string
  name: string
  drop(): Promise<void>
}

export async function createTestDatabase(label = 'test'): Promise<TestDatabase> {
  const name = `mifumo_${label.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 30)}_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`create database ${pg.escapeIdentifier(name)}`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      try {
        await client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`)
      } finally {
        await client.end()
      }
    },
  }
}
