import type { FastifyInstance } from 'fastify'
import type { SqlDatabase } from '../infra/database/sqlDatabase.ts'
import { watchProjectionCommits } from '../projections/engine/commitNotifications.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'

/**
 * Answers of the dashboard's queries, kept in memory until the read model under them changes.
 *
 * The read side knows when its data changed: the projector engine announces every batch it
 * commits, with the tenants the batch touched (projections/engine/commitNotifications.ts; other
 * processes hear it through PostgreSQL NOTIFY). So a query's answer (the JSON text, or whatever
 * the route keeps) is computed once and served from memory until one of the projections it reads
 * commits a change for its tenant (or a change whose tenant is unknown). Requests that miss
 * together share one computation.
 *
 * Correctness rests on three rules:
 * - an answer is stamped with the cache's epoch taken BEFORE its reads start; a commit heard
 *   while it computes raises the epoch past the stamp, so that answer is never served;
 * - an answer that depends on the time says until when it holds (`validUntil`): the time of day
 *   of "today", a relative "5 min ago";
 * - read-your-writes: a request whose `min_position` is beyond what the cache has heard of a
 *   projection is answered from the database (its commit notice may still be on its way).
 *
 * A notice lost on the way (a NOTIFY connection that dropped) would leave an answer stale:
 * `maxAgeMs` bounds that.
 */
export interface ReadModelCacheOptions {
  /** answers kept at most (the least recently used go first) */
  maxEntries?: number
  /** an answer is computed again at the latest this long after it was */
  maxAgeMs?: number
  /** milliseconds since the epoch (the wall clock: ages and expiries, not the service's clock) */
  now?: () => number
}

export interface CachedAnswer<Value> {
  value: Value
  /** the answer holds until this time (ms since the epoch, the service's clock); Infinity: until the data changes */
  validUntil: number
}

interface Entry {
  /** the tenant and the query's key: where the entry sits in the eviction order */
  key: string
  /** the query's key within its tenant */
  queryKey: string
  projections: readonly string[]
  tenantId: string
  stamp: number
  storedAt: number
  /** the service's time the answer was asked for: a clock set back does not reuse it */
  askedAt: number
  validUntil: number
  value: unknown
  /** read since it was stored or last came up for eviction: it gets a second chance */
  used: boolean
}

/** entries of the tenant-change table at most; beyond, it is cleared and every answer dropped */
const MAX_TRACKED_TENANTS = 50_000

export class ReadModelCache {
  readonly #maxEntries: number
  readonly #maxAgeMs: number
  readonly #now: () => number
  /**
   * `tenant key` → entry, in the order of eviction: the oldest first, an entry that was read since
   * it came up last moved to the end instead (a second chance, an approximation of least recently
   * used that costs a read nothing but a flag)
   */
  readonly #entries = new Map<string, Entry>()
  /** tenant → query key → entry: what a read looks up (two lookups of strings that are already hashed) */
  readonly #byTenant = new Map<string, Map<string, Entry>>()
  /** key → the computation under way, shared by the requests that missed together */
  readonly #computing = new Map<string, { stamp: number; askedAt: number; promise: Promise<CachedAnswer<unknown>> }>()
  #epoch = 0
  /** projection → epoch of its last change of unknown tenant */
  readonly #changedForAll = new Map<string, number>()
  /** projection → tenant → epoch of its last change for that tenant */
  readonly #changedForTenant = new Map<string, Map<string, number>>()
  /** tenants in #changedForTenant, over every projection */
  #trackedTenants = 0
  /** projection → highest position a commit notice said it reached */
  readonly #heard = new Map<string, number>()
  hits = 0
  misses = 0

  constructor(options: ReadModelCacheOptions = {}) {
    this.#maxEntries = options.maxEntries ?? 10_000
    this.#maxAgeMs = options.maxAgeMs ?? 30_000
    this.#now = options.now ?? Date.now
  }

  get size(): number {
    return this.#entries.size
  }

  /** A projection committed up to `position`, touching `tenants` (null: any tenant). */
  committed(projection: string, position: number, tenants: readonly string[] | null): void {
    const epoch = ++this.#epoch
    if (position > (this.#heard.get(projection) ?? -1)) this.#heard.set(projection, position)
    if (tenants === null) {
      this.#changedForAll.set(projection, epoch)
      return
    }
    if (this.#trackedTenants + tenants.length > MAX_TRACKED_TENANTS) {
      // forget per-tenant changes rather than grow without bound: every answer of every projection goes
      this.#changedForTenant.clear()
      this.#trackedTenants = 0
      for (const name of new Set([...this.#changedForAll.keys(), ...this.#heard.keys()])) this.#changedForAll.set(name, epoch)
      return
    }
    let byTenant = this.#changedForTenant.get(projection)
    if (byTenant === undefined) this.#changedForTenant.set(projection, (byTenant = new Map()))
    for (const tenant of tenants) {
      if (!byTenant.has(tenant)) this.#trackedTenants++
      byTenant.set(tenant, epoch)
    }
  }

  /** Drops every answer (a notice may have been missed). */
  clear(): void {
    this.#epoch++
    this.#entries.clear()
    this.#byTenant.clear()
    this.#computing.clear()
    this.#changedForTenant.clear()
    this.#trackedTenants = 0
    for (const name of this.#heard.keys()) this.#changedForAll.set(name, this.#epoch)
  }

  /** Whether the cache has heard of commits of `projection` up to `position`. */
  heardUpTo(projection: string, position: number): boolean {
    return (this.#heard.get(projection) ?? -1) >= position
  }

  /**
   * The answer of `key` for `tenantId` when memory holds one still valid at `at`, without a
   * promise or a closure: the hot path of a dashboard read. `undefined`: none (the caller computes
   * it through `answer`; an answer is never `undefined`). A request with a read-your-writes
   * position goes through `answer`.
   */
  cached<Value>(tenantId: string, key: string, at: number): Value | undefined {
    const entry = this.#byTenant.get(tenantId)?.get(key)
    if (entry === undefined || !this.#fresh(entry, at)) return undefined
    this.hits++
    entry.used = true
    return entry.value as Value
  }

  /**
   * The answer of `key` (which must name the route and the normalised query) for `tenantId`,
   * from memory when still valid, otherwise from `compute`, which reads `projections`.
   * `minPosition`: the request's read-your-writes position (undefined: none).
   */
  async answer<Value>(
    request: { projections: readonly string[]; tenantId: string; key: string; minPosition?: number | undefined; at: number },
    compute: () => Promise<CachedAnswer<Value>>,
  ): Promise<Value> {
    const { projections, tenantId, at } = request
    const key = `${tenantId} ${request.key}`
    if (request.minPosition !== undefined && !projections.every((name) => this.heardUpTo(name, request.minPosition!))) {
      // the commit that reached min_position may not have been heard here yet: the database knows
      this.misses++
      return (await compute()).value
    }
    const hit = this.cached<Value>(tenantId, request.key, at)
    if (hit !== undefined) return hit
    this.misses++
    const running = this.#computing.get(key)
    if (running && at >= running.askedAt && this.#unchangedSince(projections, tenantId, running.stamp)) {
      const shared = (await running.promise) as CachedAnswer<Value>
      // an answer that stopped holding at this request's time is no answer for it
      if (at < shared.validUntil) return shared.value
    }
    const stamp = this.#epoch
    const promise: Promise<CachedAnswer<unknown>> = compute().then(
      (computed) => {
        if (this.#computing.get(key)?.promise === promise) this.#computing.delete(key)
        this.#store({ key, queryKey: request.key, projections, tenantId, stamp, storedAt: this.#now(), askedAt: at, validUntil: computed.validUntil, value: computed.value, used: false })
        return computed
      },
      (error: unknown) => {
        if (this.#computing.get(key)?.promise === promise) this.#computing.delete(key)
        throw error
      },
    )
    this.#computing.set(key, { stamp, askedAt: at, promise })
    return ((await promise) as CachedAnswer<Value>).value
  }

  #fresh(entry: Entry, at: number): boolean {
    return at >= entry.askedAt && at < entry.validUntil && this.#now() - entry.storedAt < this.#maxAgeMs && this.#unchangedSince(entry.projections, entry.tenantId, entry.stamp)
  }

  #unchangedSince(projections: readonly string[], tenantId: string, stamp: number): boolean {
    for (const projection of projections) {
      if ((this.#changedForAll.get(projection) ?? 0) > stamp) return false
      if ((this.#changedForTenant.get(projection)?.get(tenantId) ?? 0) > stamp) return false
    }
    return true
  }

  #store(entry: Entry): void {
    // a change heard while it computed: the answer may predate it, keep it out
    if (!this.#unchangedSince(entry.projections, entry.tenantId, entry.stamp)) return
    const replaced = this.#entries.get(entry.key)
    if (replaced !== undefined) this.#remove(replaced)
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.values().next()
      if (oldest.done) break
      if (oldest.value.used) {
        // read since it last came up: to the end of the order, once
        oldest.value.used = false
        this.#entries.delete(oldest.value.key)
        this.#entries.set(oldest.value.key, oldest.value)
      } else {
        this.#remove(oldest.value)
      }
    }
    this.#entries.set(entry.key, entry)
    let ofTenant = this.#byTenant.get(entry.tenantId)
    if (ofTenant === undefined) this.#byTenant.set(entry.tenantId, (ofTenant = new Map()))
    ofTenant.set(entry.queryKey, entry)
  }

  #remove(entry: Entry): void {
    this.#entries.delete(entry.key)
    const ofTenant = this.#byTenant.get(entry.tenantId)
    if (ofTenant?.get(entry.queryKey) !== entry) return
    ofTenant.delete(entry.queryKey)
    if (ofTenant.size === 0) this.#byTenant.delete(entry.tenantId)
  }
}

/**
 * An answer's JSON as the bytes sent: a cached answer is written as it is, neither serialized nor
 * encoded again for each request that reads it.
 */
export function jsonBody(answer: unknown): Buffer {
  return Buffer.from(JSON.stringify(answer), 'utf8')
}

/** The next UTC quarter hour after `at`: every time zone's midnight falls on one (offsets are multiples of 15 minutes). */
export function nextQuarterHour(at: number): number {
  const quarter = 15 * 60_000
  return Math.floor(at / quarter) * quarter + quarter
}

/**
 * A cache whose answers are dropped as the projections commit (in this process, and in others
 * through NOTIFY); the watch stops when the app closes.
 */
export async function watchedReadModelCache(
  app: Pick<FastifyInstance, 'addHook'>,
  engine: ProjectionEngine,
  database: Pick<SqlDatabase, 'engine' | 'listen'>,
  options: ReadModelCacheOptions = {},
): Promise<ReadModelCache> {
  const cache = new ReadModelCache(options)
  const stop = await watchProjectionCommits(engine, database, (name, position, tenants) => cache.committed(name, position, tenants))
  app.addHook('onClose', async () => {
    await stop()
    cache.clear()
  })
  return cache
}
