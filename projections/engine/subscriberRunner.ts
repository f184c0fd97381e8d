import { sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { advanceCheckpoint, readCheckpoint, readLiveCheckpoint, recordCheckpointStatus, type EngineTables, type SubscriberStatus } from './checkpoints.ts'
import { projectionSchema, type Projection, type Subscriber } from './projection.ts'
import type { EngineOptions, EngineLogger, SubscriberReport } from './projectionEngine.ts'

export class CheckpointMoved extends Error {}

/** the longest pause before reading again events a notification announced but the reader cannot see yet */
const INVISIBLE_RETRY_CAP_MS = 20
/** a subscriber whose last reads in a row found none of its events counts as idle after this many */
const IDLE_AFTER_EMPTY_READS = 3
/** an idle subscriber reads at most this often however many appends it is told of */
const IDLE_READ_GAP_MS = 25

/** A projection batch that committed: its events and the checkpoint it moved to. */
export interface CommittedBatch {
  /** events handed to the projection in the batch */
  events: number
  /** position of the batch's last event (the checkpoint may be further: it also skips unrelated events) */
  lastPosition: number
  /** when the batch's last event was recorded in the store (null for a replay's swap, which is announced as a commit) */
  lastRecordedAt: Date | null
  /**
   * The tenants whose rows the batch may have changed (each event's `data.tenantId`), for readers
   * that keep answers per tenant; null or absent: unknown (an event without a tenant, a replay's
   * swap, or more tenants than are worth naming), so every tenant's answers are stale.
   */
  tenants?: readonly string[] | null
}

/** More tenants than this in one batch are announced as "every tenant". */
export const MAX_NAMED_TENANTS = 64

/** The tenants a batch of events belongs to (see CommittedBatch.tenants); null when any is unknown. */
export function tenantsOfBatch(events: readonly RecordedEvent[]): string[] | null {
  const tenants = new Set<string>()
  for (const event of events) {
    const tenantId = (event.data as { tenantId?: unknown } | null)?.tenantId
    if (typeof tenantId !== 'string') return null
    tenants.add(tenantId)
    if (tenants.size > MAX_NAMED_TENANTS) return null
  }
  return [...tenants]
}

export type ResolvedEngineOptions = Required<Omit<EngineOptions, 'logger'>> & { logger: EngineLogger }

/** Which checkpoint a runner advances and which schema its batches write to. */
export interface RunnerIdentity {
  checkpointName: string
  version: number
  schema: string
}

/**
 * Runs one subscriber from one checkpoint: catch-up, then live on the store's notifications.
 * A projection's batch (its writes) and its checkpoint commit in one transaction.
 */
export class SubscriberRunner {
  readonly subscriber: Subscriber
  readonly identity: RunnerIdentity
  readonly #engine: ResolvedEngineOptions
  position = 0
  #persisted = 0
  #persistedAt = 0
  #hint = 0
  status: SubscriberStatus = 'starting'
  lastError: string | null = null
  /** events handed to the subscriber since this runner started (replay progress) */
  handled = 0
  #running = false
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #waiters: { position: number; resolve: (reached: boolean) => void }[] = []
  /** reads in a row that found no event of this subscriber's types */
  #emptyReads = 0
  #lastReadAt = 0
  #deferredHint = 0
  #deferredWake: NodeJS.Timeout | undefined
  /** called after each committed projection batch (the engine sets it on its serving runners) */
  onCommitted: ((position: number, batch: CommittedBatch) => void) | undefined

  constructor(subscriber: Subscriber, engine: ResolvedEngineOptions, identity?: RunnerIdentity) {
    this.subscriber = subscriber
    this.#engine = engine
    this.identity = identity ?? { checkpointName: subscriber.name, version: subscriber.version, schema: projectionSchema(subscriber.name) }
  }

  get #db(): Kysely<EngineTables> {
    return this.#engine.db as Kysely<EngineTables>
  }

  get running(): boolean {
    return this.#running
  }

  /** Loads the runner's checkpoint; false when it does not exist (yet, or any more). */
  async load(): Promise<boolean> {
    const checkpoint = await readCheckpoint(this.#db, this.identity.checkpointName, this.identity.version)
    if (!checkpoint) return false
    this.position = this.#persisted = Math.max(this.position, checkpoint.position)
    this.#persistedAt = Date.now()
    return true
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.status = 'catching_up'
    this.#loop = this.#run()
  }

  async stop(status: SubscriberStatus = 'stopped'): Promise<void> {
    this.#running = false
    clearTimeout(this.#deferredWake)
    this.#deferredWake = undefined
    this.#wake?.()
    await this.#loop
    this.status = status
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(false)
  }

  notify(position: number): void {
    if (this.#emptyReads >= IDLE_AFTER_EMPTY_READS && this.#waiters.length === 0) {
      // the log's recent events were none of this subscriber's: under a stream of appends, read at
      // most once per IDLE_READ_GAP_MS rather than once per notification (every subscriber is
      // notified of every append, and their reads share the connection pool with the commands)
      const due = this.#lastReadAt + IDLE_READ_GAP_MS - Date.now()
      if (due > 0) {
        if (position > this.#deferredHint) this.#deferredHint = position
        this.#deferredWake ??= setTimeout(() => this.#applyDeferred(), due)
        return
      }
    }
    if (position > this.#hint) this.#hint = position
    this.#wake?.()
  }

  #applyDeferred(): void {
    clearTimeout(this.#deferredWake)
    this.#deferredWake = undefined
    if (this.#deferredHint > this.#hint) this.#hint = this.#deferredHint
    this.#wake?.()
  }

  waitFor(position: number, timeoutMs: number): Promise<boolean> {
    if (this.position >= position) return Promise.resolve(true)
    if (timeoutMs <= 0) return Promise.resolve(false)
    if (!this.#running) return this.#pollCheckpoint(position, timeoutMs)
    return new Promise((resolve) => {
      const waiter = { position, resolve }
      this.#waiters.push(waiter)
      // someone waits for this subscriber: no deferred read
      if (this.#deferredWake) this.#applyDeferred()
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter)
        resolve(this.position >= position)
      }, timeoutMs)
      timer.unref?.()
      waiter.resolve = (reached) => {
        clearTimeout(timer)
        resolve(reached)
      }
    })
  }

  /**
   * When another process runs this projection (or a replay is building it), its committed
   * checkpoint is what tells: poll it. (A runner persists a checkpoint that only skipped
   * unrelated events every few seconds.)
   */
  async #pollCheckpoint(position: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      // the serving checkpoint, whichever version writes it now (a newer one may have replaced ours)
      const checkpoint =
        this.identity.checkpointName === this.subscriber.name
          ? await readLiveCheckpoint(this.#db, this.identity.checkpointName)
          : await readCheckpoint(this.#db, this.identity.checkpointName, this.identity.version)
      if (checkpoint && checkpoint.position >= position) {
        this.position = Math.max(this.position, checkpoint.position)
        return true
      }
      if (Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))))
    }
  }

  report(): Omit<SubscriberReport, 'replay'> {
    const { name, kind } = this.subscriber
    return { name, version: this.identity.version, kind, position: this.position, status: this.status, lastError: this.lastError }
  }

  #moved(to: number): void {
    this.position = to
    const reached = this.#waiters.filter((w) => w.position <= to)
    this.#waiters = this.#waiters.filter((w) => w.position > to)
    for (const waiter of reached) waiter.resolve(true)
  }

  async #run(): Promise<void> {
    let failures = 0
    let invisibleRetries = 0
    while (this.#running) {
      let readAny = false
      try {
        this.#lastReadAt = Date.now()
        readAny = await this.#step()
        this.#emptyReads = readAny ? 0 : this.#emptyReads + 1
        if (failures > 0 || this.status !== 'live') {
          this.status = 'live'
          this.lastError = null
          if (failures > 0) await recordCheckpointStatus(this.#db, this.identity.checkpointName, this.identity.version, 'live', null)
        }
        failures = 0
      } catch (error) {
        if (error instanceof CheckpointMoved) {
          // another runner committed first (or a replay swapped new tables in): go on from its
          // checkpoint; when ours is gone, a newer version serves now and this runner stops
          const checkpoint = await readCheckpoint(this.#db, this.identity.checkpointName, this.identity.version).catch(() => undefined)
          if (!checkpoint) {
            this.#running = false
            this.status = 'superseded'
            this.#engine.logger.warn({ projection: this.subscriber.name, version: this.identity.version }, 'a newer version of this projection serves now; this runner stops')
            break
          }
          this.#persisted = checkpoint.position
          this.#moved(Math.max(this.position, checkpoint.position))
          continue
        }
        if (!this.#running) break
        failures++
        this.status = 'failed'
        this.lastError = error instanceof Error ? error.message : String(error)
        this.#engine.logger.error({ err: error, projection: this.subscriber.name, position: this.position, failures }, 'projection batch failed; retrying')
        await recordCheckpointStatus(this.#db, this.identity.checkpointName, this.identity.version, 'failed', this.lastError).catch(() => undefined)
        await this.#pause(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)))
        continue
      }
      if (readAny) {
        invisibleRetries = 0
        continue
      }
      if (this.#hint > this.position) {
        // notified of events we cannot see yet: an earlier writer's transaction of this database
        // is still open (they are short: an append, a projection batch); look again soon
        invisibleRetries++
        await this.#pause(Math.min(INVISIBLE_RETRY_CAP_MS, 2 ** invisibleRetries))
      } else {
        invisibleRetries = 0
        await this.#pause(this.#engine.pollIntervalMs)
      }
    }
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(this.position >= waiter.position)
  }

  #pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done() {
        clearTimeout(timer)
        resolve()
      }
      this.#wake = done
    }).finally(() => {
      this.#wake = undefined
    })
  }

  /** One read and, if it found events, one committed batch. True when events were handled. */
  async #step(): Promise<boolean> {
    const { store, batchSize } = this.#engine
    const slice = await store.readAll({ after: this.position, limit: batchSize, eventTypes: this.subscriber.eventTypes })
    if (slice.events.length === 0) {
      if (slice.scannedTo > this.position) {
        this.#moved(slice.scannedTo)
        if (Date.now() - this.#persistedAt >= this.#engine.idleCheckpointIntervalMs) await this.#persist(slice.scannedTo)
      }
      return false
    }
    await this.#commit(slice.events, slice.scannedTo)
    this.handled += slice.events.length
    this.#moved(slice.scannedTo)
    return true
  }

  async #persist(to: number): Promise<void> {
    const ok = await advanceCheckpoint(this.#db, this.identity.checkpointName, this.identity.version, this.#persisted, to)
    if (!ok) throw new CheckpointMoved()
    this.#persisted = to
    this.#persistedAt = Date.now()
  }

  async #commit(events: readonly RecordedEvent[], to: number): Promise<void> {
    const subscriber = this.subscriber
    if (subscriber.kind === 'reactor') {
      await subscriber.handle(events)
      await this.#persist(to)
      return
    }
    await this.#commitProjection(subscriber, events, to)
  }

  async #commitProjection(projection: Projection, events: readonly RecordedEvent[], to: number): Promise<void> {
    await this.#engine.db.transaction().execute(async (trx) => {
      // the checkpoint first: a runner that lost the race (or a swap) stops here, before writing
      const ok = await advanceCheckpoint(trx as Kysely<EngineTables>, this.identity.checkpointName, this.identity.version, this.#persisted, to)
      if (!ok) throw new CheckpointMoved()
      await sql`select set_config('search_path', ${`${this.identity.schema}, public`}, true)`.execute(trx)
      await projection.handle(events, trx)
    })
    this.#persisted = to
    this.#persistedAt = Date.now()
    this.onCommitted?.(to, {
      events: events.length,
      lastPosition: events[events.length - 1]!.position,
      lastRecordedAt: events[events.length - 1]!.recordedAt,
      tenants: tenantsOfBatch(events),
    })
  }
}

/** Creates a projection's schema, tables and checkpoint, once, even with several processes starting. */
export async function createProjectionTables(db: Kysely<any>, projection: Projection, identity: RunnerIdentity, start: number): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(hashtext(${`projection:${identity.checkpointName}`}))`.execute(trx)
    if (await readCheckpoint(trx as Kysely<EngineTables>, identity.checkpointName, identity.version)) return
    // leftovers of a build that never recorded its checkpoint are rebuilt from scratch
    await sql`drop schema if exists ${sql.id(identity.schema)} cascade`.execute(trx)
    await sql`create schema ${sql.id(identity.schema)}`.execute(trx)
    // unqualified names in createTables land in the projection's schema
    await sql`select set_config('search_path', ${`${identity.schema}, public`}, true)`.execute(trx)
    await projection.createTables(trx, identity.schema)
    await sql`select set_config('search_path', 'public', true)`.execute(trx)
    await trx
      .insertInto('projection_checkpoints')
      .values({ name: identity.checkpointName, version: identity.version, position: start, status: 'catching_up', last_error: null })
      .execute()
  })
}

