import type { ServerResponse } from 'node:http'
import type { Kysely } from 'kysely'
import type { Clock } from '../infra/clock.ts'
import { activitiesAfter, streamStartPosition, type ActivityFeedTables, type ActivityRow } from '../projections/activityFeed.ts'
import { activityView } from './activityRoutes.ts'

/**
 * The live activity feed's connections (GET /api/messaging/activity/stream/), grouped by tenant.
 *
 * Each connection has a cursor: the position of the last activity change it was sent. When the
 * activity_feed projection commits a batch, every tenant that has connections is pumped: ONE query
 * reads the tenant's activities changed after the lowest cursor of its connections (in pages,
 * oldest change first), and each connection gets the rows past its own cursor. A new connection
 * starts at its Last-Event-ID (at most `backlog` changes back) or at the tenant's newest change,
 * and pumps its tenant once, so nothing committed while it connected is missed.
 *
 * Pumps of one tenant never overlap (a commit during a pump runs one more), so every connection
 * sees changes in position order: the projector commits in position order, and a row's position
 * is that of the latest event that changed it.
 */
export interface ActivityStreamOptions {
  /** the activity_feed read model */
  feed: Kysely<ActivityFeedTables>
  clock: Clock
  /** a comment line goes to every stream this often */
  heartbeatMs: number
  /** at most this many changes are sent again to a client that resumes with Last-Event-ID */
  backlog?: number
  /** rows per query while pumping */
  pageSize?: number
  /** a client that lets this much output pile up unread is disconnected (it resumes with Last-Event-ID) */
  maxBufferedBytes?: number
  /** the client's reconnection delay, sent as `retry:` when a stream opens */
  retryMs?: number
  /** counts the open streams (a Prometheus gauge) */
  connectionGauge?: { inc(): void; dec(): void }
  onError?: (error: unknown, context: { tenantId: string }) => void
}

interface StreamConnection {
  tenantId: string
  cursor: number
  response: ServerResponse
  closed: boolean
}

interface TenantStreams {
  connections: Set<StreamConnection>
  pumping: Promise<void> | undefined
  again: boolean
}

/** One change of an activity as an SSE event: its position as the id, the /activity/recent/ item as data. */
export function activityFrame(row: ActivityRow, now: Date): string {
  return `id: ${row.position}\nevent: activity\ndata: ${JSON.stringify(activityView(row, now))}\n\n`
}

export const HEARTBEAT_FRAME = ': heartbeat\n\n'

export class ActivityStreamHub {
  readonly #options: Required<Omit<ActivityStreamOptions, 'onError' | 'connectionGauge'>> & Pick<ActivityStreamOptions, 'onError' | 'connectionGauge'>
  readonly #tenants = new Map<string, TenantStreams>()
  #heartbeat: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: ActivityStreamOptions) {
    this.#options = { backlog: 100, pageSize: 200, maxBufferedBytes: 1024 * 1024, retryMs: 3000, ...options }
  }

  /** open streams, all tenants together */
  get connections(): number {
    let count = 0
    for (const tenant of this.#tenants.values()) count += tenant.connections.size
    return count
  }

  get closed(): boolean {
    return this.#closed
  }

  /**
   * Where a new stream of the tenant starts: after `lastSeen` (null: from now on), at most
   * `backlog` changes back. Read before the response is committed to a stream, so a failure here
   * is still an ordinary error answer.
   */
  startPosition(tenantId: string, lastSeen: number | null): Promise<number> {
    return streamStartPosition(this.#options.feed, tenantId, lastSeen, this.#options.backlog)
  }

  /**
   * Adds an open response (its headers sent) as a stream of the tenant's activities changed after
   * `cursor`. It is removed when the client goes away; the hub's close ends it.
   */
  attach(tenantId: string, response: ServerResponse, cursor: number): void {
    if (this.#closed || response.destroyed || response.writableEnded) {
      response.end()
      return
    }
    const connection: StreamConnection = { tenantId, cursor, response, closed: false }
    let tenant = this.#tenants.get(tenantId)
    if (!tenant) this.#tenants.set(tenantId, (tenant = { connections: new Set(), pumping: undefined, again: false }))
    tenant.connections.add(connection)
    this.#options.connectionGauge?.inc()
    response.on('close', () => this.#remove(connection))
    response.write(`retry: ${this.#options.retryMs}\n\n`)
    this.#startHeartbeat()
    this.#pump(tenantId)
  }

  /** The activity feed committed: every tenant with streams looks for changes. */
  committed(): void {
    for (const tenantId of this.#tenants.keys()) this.#pump(tenantId)
  }

  /** Ends every stream (the server is closing) and refuses new ones. */
  close(): void {
    this.#closed = true
    this.#stopHeartbeat()
    for (const tenant of this.#tenants.values()) {
      for (const connection of tenant.connections) {
        connection.closed = true
        connection.response.end()
        this.#options.connectionGauge?.dec()
      }
    }
    this.#tenants.clear()
  }

  #remove(connection: StreamConnection): void {
    connection.closed = true
    const tenant = this.#tenants.get(connection.tenantId)
    if (!tenant?.connections.delete(connection)) return
    this.#options.connectionGauge?.dec()
    if (tenant.connections.size === 0 && !tenant.pumping) this.#tenants.delete(connection.tenantId)
    if (this.#tenants.size === 0) this.#stopHeartbeat()
  }

  #pump(tenantId: string): void {
    const tenant = this.#tenants.get(tenantId)
    if (!tenant) return
    if (tenant.pumping) {
      tenant.again = true
      return
    }
    tenant.pumping = (async () => {
      do {
        tenant.again = false
        await this.#sendChanges(tenantId, tenant)
      } while (tenant.again && !this.#closed)
    })()
      .catch((error: unknown) => this.#options.onError?.(error, { tenantId }))
      .finally(() => {
        tenant.pumping = undefined
        if (tenant.connections.size === 0 && this.#tenants.get(tenantId) === tenant) this.#tenants.delete(tenantId)
      })
  }

  async #sendChanges(tenantId: string, tenant: TenantStreams): Promise<void> {
    for (;;) {
      const open = [...tenant.connections].filter((connection) => !connection.closed)
      if (open.length === 0 || this.#closed) return
      const from = Math.min(...open.map((connection) => connection.cursor))
      const rows = await activitiesAfter(this.#options.feed, tenantId, from, this.#options.pageSize)
      const now = this.#options.clock.now()
      for (const row of rows) {
        const position = Number(row.position)
        let frame: string | undefined
        for (const connection of open) {
          if (connection.closed || position <= connection.cursor) continue
          frame ??= activityFrame(row, now)
          this.#write(connection, frame)
          connection.cursor = position
        }
      }
      if (rows.length < this.#options.pageSize) return
    }
  }

  #write(connection: StreamConnection, frame: string): void {
    const { response } = connection
    if (connection.closed || response.destroyed || response.writableEnded) return
    response.write(frame)
    if (response.writableLength > this.#options.maxBufferedBytes) {
      // a client that does not read: drop it rather than buffer without bound
      connection.closed = true
      response.destroy()
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat) return
    this.#heartbeat = setInterval(() => {
      for (const tenant of this.#tenants.values()) for (const connection of tenant.connections) this.#write(connection, HEARTBEAT_FRAME)
    }, this.#options.heartbeatMs)
    this.#heartbeat.unref()
  }

  #stopHeartbeat(): void {
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
  }
}
