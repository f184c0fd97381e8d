import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler, onSendHookHandler, preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import type { Kysely } from 'kysely'
import type { Clock } from '../clock.ts'
import type { MigrationSet } from '../database/migrations.ts'

/**
 * Idempotency-Key on creates (routes with `config.idempotent`). Within 24 hours, the same key
 * from the same caller with the same request (method, path, body) gets the first answer again
 * (marked `Idempotent-Replayed: true`) and appends nothing; the same key with another request is
 * refused with 422. While the first request is still running, a repeat gets 409. Answers of 5xx
 * are not kept, so a retry after a failure runs again.
 */
export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000

export interface IdempotencyKeysTable {
  scope: string
  key: string
  request_hash: string
  state: 'running' | 'done'
  status_code: number | null
  content_type: string | null
  body: string | null
  created_at: Date | string
}

interface IdempotencyTables {
  idempotency_keys: IdempotencyKeysTable
}

export const idempotencyMigrations: MigrationSet = {
  '20261122090000_idempotency_keys': {
    async up(db) {
      await db.schema
        .createTable('idempotency_keys')
        .addColumn('scope', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('request_hash', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('content_type', 'text')
        .addColumn('body', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pkey', ['scope', 'key'])
        .execute()
      await db.schema.createIndex('idempotency_keys_created_at').on('idempotency_keys').column('created_at').execute()
    },
    async down(db) {
      await db.schema.dropTable('idempotency_keys').ifExists().execute()
    },
  },
}

export interface IdempotencyOptions {
  db: Kysely<any>
  clock: Clock
}

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/

/** JSON with sorted keys; uploaded file contents enter as their digest. */
function canonical(value: unknown): string {
  if (Buffer.isBuffer(value)) return JSON.stringify(`sha256:${createHash('sha256').update(value).digest('hex')}`)
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => typeof v !== 'function' && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`
  }
  return JSON.stringify(value ?? null)
}

function requestHash(request: FastifyRequest): string {
  return createHash('sha256').update(`${request.method} ${request.url}\n${canonical(request.body)}`).digest('hex')
}

function scopeOf(request: FastifyRequest): string {
  const principal = request.principal
  return principal ? `user:${principal.userId}:tenant:${principal.tenantId ?? '-'}` : `ip:${request.ip}`
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyRecord: { scope: string; key: string } | null
  }
}

/** A route's hooks of one kind as a list (a route option holds one hook, a list, or nothing). */
function hooksOf<Hook>(hooks: Hook | Hook[] | undefined): Hook[] {
  return hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]
}

function refuse(reply: FastifyReply, status: number, message: string, errorCode: string): FastifyReply {
  return reply.status(status).send({ success: false, message, error_code: errorCode, details: {} })
}

export const idempotency = fp(
  async (app: FastifyInstance, options: IdempotencyOptions) => {
    const db = options.db as Kysely<IdempotencyTables>
    app.decorateRequest('idempotencyRecord', null)

    const claim: preHandlerAsyncHookHandler = async function idempotent(request, reply) {
      const header = request.headers['idempotency-key']
      if (header === undefined) return
      const key = Array.isArray(header) ? header[0]! : header
      if (!KEY_PATTERN.test(key)) {
        return reply.status(400).send({ success: false, message: 'Validation failed', errors: { 'Idempotency-Key': ['Must be 1 to 255 visible ASCII characters.'] } })
      }
      const scope = scopeOf(request)
      const hash = requestHash(request)
      const now = options.clock.now()
      const expiredBefore = new Date(now.getTime() - IDEMPOTENCY_TTL_MS)
      for (let attempt = 0; attempt < 2; attempt++) {
        const inserted = await db
          .insertInto('idempotency_keys')
          .values({ scope, key, request_hash: hash, state: 'running', status_code: null, content_type: null, body: null, created_at: now })
          .onConflict((conflict) => conflict.columns(['scope', 'key']).doNothing())
          .returning('key')
          .executeTakeFirst()
        if (inserted) {
          request.idempotencyRecord = { scope, key }
          return
        }
        const existing = await db.selectFrom('idempotency_keys').selectAll().where('scope', '=', scope).where('key', '=', key).executeTakeFirst()
        if (!existing) continue
        if (new Date(existing.created_at).getTime() <= expiredBefore.getTime()) {
          // older than 24 hours: the key is free again
          await db.deleteFrom('idempotency_keys').where('scope', '=', scope).where('key', '=', key).where('created_at', '<=', expiredBefore).execute()
          continue
        }
        if (existing.request_hash !== hash) {
          return refuse(reply, 422, 'This Idempotency-Key was already used with a different request', 'IDEMPOTENCY_KEY_REUSED')
        }
        if (existing.state === 'running') {
          return refuse(reply, 409, 'A request with this Idempotency-Key is still being processed', 'IDEMPOTENCY_KEY_IN_USE')
        }
        reply.header('idempotent-replayed', 'true')
        if (existing.content_type) reply.header('content-type', existing.content_type)
        return reply.status(existing.status_code ?? 200).send(existing.body ?? '')
      }
      return refuse(reply, 409, 'A request with this Idempotency-Key is still being processed', 'IDEMPOTENCY_KEY_IN_USE')
    }

    // the answer is kept (or the key released) by hooks of the idempotent routes only: the other
    // routes, the reads among them, run no hook of this plugin
    const keepAnswer: onSendHookHandler = async function keepIdempotentAnswer(request, reply, payload) {
      const record = request.idempotencyRecord
      if (!record) return payload
      request.idempotencyRecord = null
      const where = db.deleteFrom('idempotency_keys').where('scope', '=', record.scope).where('key', '=', record.key)
      if (reply.statusCode >= 500 || (payload !== null && typeof payload !== 'string' && !Buffer.isBuffer(payload))) {
        await where.execute()
        return payload
      }
      await db
        .updateTable('idempotency_keys')
        .set({
          state: 'done',
          status_code: reply.statusCode,
          content_type: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'),
          body: payload === null ? '' : payload.toString(),
        })
        .where('scope', '=', record.scope)
        .where('key', '=', record.key)
        .execute()
      return payload
    }

    // a request that died before answering must not hold its key for 24 hours
    const releaseUnanswered: onResponseHookHandler = async function releaseIdempotencyKey(request) {
      const record = request.idempotencyRecord
      if (!record) return
      request.idempotencyRecord = null
      await db.deleteFrom('idempotency_keys').where('scope', '=', record.scope).where('key', '=', record.key).where('state', '=', 'running').execute()
    }

    app.addHook('onRoute', (route) => {
      if (!route.config?.idempotent) return
      route.preHandler = [...hooksOf(route.preHandler), claim]
      route.onSend = [...hooksOf(route.onSend), keepAnswer]
      route.onResponse = [...hooksOf(route.onResponse), releaseUnanswered]
    })

    const sweep = setInterval(() => {
      const cutoff = new Date(options.clock.now().getTime() - IDEMPOTENCY_TTL_MS)
      db.deleteFrom('idempotency_keys').where('created_at', '<=', cutoff).execute().catch(() => undefined)
    }, 60 * 60 * 1000)
    sweep.unref()
    app.addHook('onClose', async () => clearInterval(sweep))
  },
  { name: 'idempotency' },
)

