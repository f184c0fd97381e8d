import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { Kysely, PostgresDialect, sql } from 'kysely'

/**
 * One PostgreSQL database, whichever engine serves it: a real server through `pg` (DATABASE_URL)
 * or the embedded PGlite. Everything above this speaks Kysely; only LISTEN/NOTIFY differs.
 */
export interface SqlDatabase {
  readonly engine: 'postgres' | 'pglite'
  /** untyped handle: each module narrows it to its own table types */
  readonly db: Kysely<any>
  /** subscribe to a notification channel; resolves once listening; returns the unsubscribe */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>
  /** deliver a notification to every listener of the channel, in every process */
  notify(channel: string, payload: string): Promise<void>
  close(): Promise<void>
}

export interface SqlDatabaseOptions {
  databaseUrl: string | undefined
  /** folder for the embedded database; `memory://` keeps it in memory */
  dataDir: string
  poolSize?: number
  applicationName?: string
}

const INT8_OID = 20
const NUMERIC_OID = 1700

/** Count and position columns are int8; positions stay below 2^53, so plain numbers are exact. */
function typeParser(oid: number, format?: string): (value: string) => unknown {
  if (oid === INT8_OID) return (value) => Number(value)
  if (oid === NUMERIC_OID) return (value) => Number(value)
  return pg.types.getTypeParser(oid, format as 'text')
}

export async function openSqlDatabase(options: SqlDatabaseOptions): Promise<SqlDatabase> {
  return options.databaseUrl ? openPostgres(options.databaseUrl, options) : openPGlite(options.dataDir)
}

async function openPostgres(connectionString: string, options: SqlDatabaseOptions): Promise<SqlDatabase> {
  const clientConfig = {
    connectionString,
    application_name: options.applicationName ?? 'mifumo',
    // an idle open transaction holds back every reader of the global log: never let one linger
    options: '-c idle_in_transaction_session_timeout=30000',
    types: { getTypeParser: typeParser },
  } as pg.ClientConfig
  const pool = new pg.Pool({ ...clientConfig, max: options.poolSize ?? 10 } as pg.PoolConfig)
  pool.on('error', () => {
    // an idle client lost its connection; the pool replaces it on next use
  })
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) })

  let listener: pg.Client | undefined
  let listenerReady: Promise<pg.Client> | undefined
  const handlers = new Map<string, Set<(payload: string) => void>>()
  let closed = false

  const connectListener = (): Promise<pg.Client> => {
    listenerReady ??= (async () => {
      const client = new pg.Client(clientConfig)
      client.on('notification', (message) => {
        for (const handler of handlers.get(message.channel) ?? []) handler(message.payload ?? '')
      })
      client.on('error', () => {
        // reconnect on next use and re-subscribe every channel
        listener = undefined
        listenerReady = undefined
        if (!closed && handlers.size > 0) {
          setTimeout(() => {
            if (!closed) connectListener().catch(() => undefined)
          }, 500)
        }
      })
      await client.connect()
      for (const channel of handlers.keys()) await client.query(`listen ${pg.escapeIdentifier(channel)}`)
      listener = client
      return client
    })()
    return listenerReady
  }

  return {
    engine: 'postgres',
    db,
    async listen(channel, onPayload) {
      const set = handlers.get(channel) ?? new Set()
      const first = set.size === 0
      set.add(onPayload)
      handlers.set(channel, set)
      const client = await connectListener()
      if (first) await client.query(`listen ${pg.escapeIdentifier(channel)}`)
      return async () => {
        set.delete(onPayload)
        if (set.size === 0) {
          handlers.delete(channel)
          await listener?.query(`unlisten ${pg.escapeIdentifier(channel)}`).catch(() => undefined)
        }
      }
    },
    async notify(channel, payload) {
      await sql`select pg_notify(${channel}, ${payload})`.execute(db)
    },
    async close() {
      closed = true
      await listener?.end().catch(() => undefined)
      await db.destroy()
    },
  }
}

async function openPGlite(dataDir: string): Promise<SqlDatabase> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { PGliteDialect } = await import('./pgliteDialect.ts')
  const inMemory = dataDir.startsWith('memory://')
  let releaseLock = (): void => {}
  if (!inMemory) {
    mkdirSync(dataDir, { recursive: true })
    releaseLock = lockDataDir(dataDir)
  }
  const pglite = await PGlite.create(inMemory ? undefined : dataDir, {
    parsers: { [INT8_OID]: (value: string) => Number(value), [NUMERIC_OID]: (value: string) => Number(value) },
  })
  const db = new Kysely<any>({ dialect: new PGliteDialect(pglite) })
  const handlers = new Map<string, Set<(payload: string) => void>>()
  return {
    engine: 'pglite',
    db,
    async listen(channel, onPayload) {
      // one process owns the embedded database: notifications never need to leave it
      const set = handlers.get(channel) ?? new Set()
      set.add(onPayload)
      handlers.set(channel, set)
      return async () => {
        set.delete(onPayload)
      }
    },
    async notify(channel, payload) {
      for (const handler of handlers.get(channel) ?? []) queueMicrotask(() => handler(payload))
    },
    async close() {
      await db.destroy()
      await pglite.close()
      releaseLock()
    },
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * The embedded database's files belong to one process at a time: a second opener would corrupt
 * them. A lock file holds the owner's pid; a lock left by a process that no longer runs is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const lockFile = path.join(dataDir, 'mifumo.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' })
      return () => {
        try {
          unlinkSync(lockFile)
        } catch {
          // already gone
        }
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number(readFileSync(lockFile, 'utf8').trim())
      if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processIsAlive(owner)) {
        throw new Error(`the embedded database in ${dataDir} is in use by process ${owner}; stop that process, or set DATABASE_URL to share a PostgreSQL server`)
      }
      unlinkSync(lockFile)
    }
  }
  throw new Error(`could not lock the embedded database in ${dataDir}`)
}
