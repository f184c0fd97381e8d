import { sql, type Kysely } from 'kysely'
import type { RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { advanceCheckpoint, advanceCheckpointInto, readCheckpoint, readLiveCheckpoint, recordCheckpointStatus, type EngineTables, type SubscriberStatus } from './checkpoints.ts'
import { projectionSchema, type Projection, type Subscriber } from './projection.ts'
import type { EngineOptions, EngineLogger, SubscriberReport } from './projectionEngine.ts'
import type { SharedLogReader } from './sharedLogReader.ts'
import { WakeablePause } from './wakeablePause.ts'

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

/** The longest pause between two attempts of a failing batch. */
const MAX_FAILURE_PAUSE_MS = 30_000

/** The pause before a failing batch is tried again: doubling from 250 ms up to MAX_FAILURE_PAUSE_MS. */
export function failurePause(failures: number): number {
  return Math.min(MAX_FAILURE_PAUSE_MS, 250 * 2 ** Math.min(failures, 7))
}

/**
 * Runs one subscriber from one checkpoint: catch-up, then live on the store's notifications.
 * A projection's batch (its writes) and its checkpoint commit in one transaction.
 *
 * A runner given a shared log reader (the engine's projections) reads the log on its own only to
 * catch up (when it starts, and after a batch of its failed); once a read finds nothing more it
 * joins the reader, which reads each page once for all its members and commits their batches
 * together (sharedLogReader.ts). A runner without one (reactors) always reads on its own.
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
  readonly #pause = new WakeablePause()
  #waiters: { position: number; resolve: (reached: boolean) => void }[] = []
  /** reads in a row that found no event of this subscriber's types */
  #emptyReads = 0
  /** the last read of the runner's own loop was not a full page: it saw everything readable then */
  #reachedHead = false
  #lastReadAt = 0
  #deferredHint = 0
  #deferredWake: NodeJS.Timeout | undefined
  /** called after each committed projection batch (the engine sets it on its serving runners) */
  onCommitted: ((position: number, batch: CommittedBatch) => void) | undefined
  /** the reader this runner joins once caught up (projections only; reactors read on their own) */
  readonly reader: SharedLogReader | undefined
  /** true while the shared reader, not this runner's own loop, reads and commits for it */
  #member = false
  readonly #eventTypes: ReadonlySet<string>

  constructor(subscriber: Subscriber, engine: ResolvedEngineOptions, identity?: RunnerIdentity, reader?: SharedLogReader) {
    this.subscriber = subscriber
    this.#engine = engine
    this.identity = identity ?? { checkpointName: subscriber.name, version: subscriber.version, schema: projectionSchema(subscriber.name) }
    if (reader && subscriber.kind !== 'projection') throw new Error(`subscriber ${subscriber.name}: only projections share a log reader`)
    this.reader = reader
    this.#eventTypes = new Set(subscriber.eventTypes)
  }

  /** the checkpoint as last committed by this runner (its in-memory position may be further) */
  get persisted(): number {
    return this.#persisted
  }

  /** whether the subscriber handles events of this type */
  accepts(eventType: string): boolean {
    return this.#eventTypes.has(eventType)
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
    if (this.reader?.joinsAtStart) {
      this.#member = true
      this.reader.join(this)
      return
    }
    // with a shared reader: catch up alone first, so the reader's members are never held back by
    // one far behind (a new projection reading the whole log); then join it
    this.#loop = this.#run(0)
  }

  async stop(status: SubscriberStatus = 'stopped'): Promise<void> {
    this.#running = false
    clearTimeout(this.#deferredWake)
    this.#deferredWake = undefined
    this.#pause.wake()
    await this.#loop
    if (this.#member) await this.reader!.leave(this)
    this.#member = false
    this.status = status
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(false)
  }

  /** true while the shared reader reads and commits for this runner */
  get member(): boolean {
    return this.#member
  }

  /**
   * The shared reader could not commit a page because this runner's handler threw: it leaves the
   * reader (which goes on with the others) and retries on its own, with backoff, until it has
   * caught up; then it joins again.
   */
  detach(error: unknown): void {
    if (!this.#member) return
    this.#member = false
    if (!this.#running) return
    this.#loop = this.#run(1, error)
  }

  /** the shared reader committed a page for this runner: its events (possibly none) up to `to` */
  committed(events: readonly RecordedEvent[], to: number): void {
    this.#persisted = to
    this.#persistedAt = Date.now()
    this.#becameLive()
    if (events.length > 0) {
      this.handled += events.length
      this.#announce(events, to)
    }
    this.#moved(Math.max(this.position, to))
  }

  /** the shared reader scanned up to `to` and found nothing for this runner */
  skipped(to: number): void {
    if (to > this.position) this.#moved(to)
  }

  /** a checkpoint that only skipped unrelated events is persisted at most this often */
  get idleCheckpointDue(): boolean {
    return this.position > this.#persisted && Date.now() - this.#persistedAt >= this.#engine.idleCheckpointIntervalMs
  }

  /** persists a checkpoint that only skipped unrelated events (throws CheckpointMoved) */
  async persistSkipped(): Promise<void> {
    if (this.position > this.#persisted) await this.#persist(this.position)
  }

  #becameLive(): void {
    if (this.status !== 'live') {
      this.status = 'live'
      this.lastError = null
    }
  }

  /**
   * Another runner or a replay's swap moved this runner's checkpoint: go on from it. False when
   * the checkpoint is gone (a newer version serves now): the runner stops.
   */
  async adoptMovedCheckpoint(): Promise<boolean> {
    const checkpoint = await readCheckpoint(this.#db, this.identity.checkpointName, this.identity.version).catch(() => undefined)
    if (!checkpoint) {
      this.#running = false
      this.#member = false
      this.status = 'superseded'
      this.#engine.logger.warn({ projection: this.subscriber.name, version: this.identity.version }, 'a newer version of this projection serves now; this runner stops')
      for (const waiter of this.#waiters.splice(0)) waiter.resolve(this.position >= waiter.position)
      return false
    }
    this.#persisted = checkpoint.position
    this.#persistedAt = Date.now()
    this.#moved(Math.max(this.position, checkpoint.position))
    return true
  }

  /**
   * New events up to `position` may be readable. `relevant`: the caller knows some are of this
   * subscriber's types (the shared reader saw them), so the read is not deferred.
   */
  notify(position: number, relevant = false): void {
    if (this.#member) return
    if (!relevant && this.#emptyReads >= IDLE_AFTER_EMPTY_READS && this.#waiters.length === 0) {
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
    this.#pause.wake()
  }

  #applyDeferred(): void {
    clearTimeout(this.#deferredWake)
    this.#deferredWake = undefined
    if (this.#deferredHint > this.#hint) this.#hint = this.#deferredHint
    this.#pause.wake()
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
    // never backwards: the shared reader may have moved an observed runner past a page while the
    // runner's own read of an older range was in flight
    if (to > this.position) this.position = to
    const reached = this.#waiters.filter((w) => w.position <= to)
    this.#waiters = this.#waiters.filter((w) => w.position > to)
    for (const waiter of reached) waiter.resolve(true)
  }

  async #recordFailure(error: unknown, failures: number): Promise<void> {
    this.status = 'failed'
    this.lastError = error instanceof Error ? error.message : String(error)
    this.#engine.logger.error({ err: error, projection: this.subscriber.name, position: this.position, failures }, 'projection batch failed; retrying')
    await recordCheckpointStatus(this.#db, this.identity.checkpointName, this.identity.version, 'failed', this.lastError).catch(() => undefined)
  }

  /**
   * The runner's own loop. `failures`: batches that failed in a row before it (the shared reader's
   * page that `error` failed), so the first retry waits.
   */
  async #run(failures: number, error?: unknown): Promise<void> {
    let invisibleRetries = 0
    if (failures > 0) {
      await this.#recordFailure(error, failures)
      await this.#pause.for(failurePause(failures))
    }
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
          if (!(await this.adoptMovedCheckpoint())) break
          continue
        }
        if (!this.#running) break
        failures++
        await this.#recordFailure(error, failures)
        await this.#pause.for(failurePause(failures))
        continue
      }
      if (this.reader && this.#running && failures === 0 && this.#reachedHead) {
        // caught up: the shared reader takes over from here
        this.#member = true
        this.#loop = undefined
        this.reader.join(this)
        return
      }
      if (readAny) {
        invisibleRetries = 0
        continue
      }
      if (this.#hint > this.position) {
        // notified of events we cannot see yet: an earlier writer's transaction of this database
        // is still open (they are short: an append, a projection batch); look again soon
        invisibleRetries++
        await this.#pause.for(Math.min(INVISIBLE_RETRY_CAP_MS, 2 ** invisibleRetries))
      } else {
        invisibleRetries = 0
        await this.#pause.for(this.#engine.pollIntervalMs)
      }
    }
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(this.position >= waiter.position)
  }


  /** One read and, if it found events, one committed batch. True when events were handled. */
  async #step(): Promise<boolean> {
    const { store, batchSize } = this.#engine
    const slice = await store.readAll({ after: this.position, limit: batchSize, eventTypes: this.subscriber.eventTypes })
    this.#reachedHead = slice.events.length < batchSize
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
      const ok = await advanceCheckpointInto(trx as Kysely<EngineTables>, this.identity.checkpointName, this.identity.version, this.#persisted, to, this.identity.schema)
      if (!ok) throw new CheckpointMoved()
      await projection.handle(events, trx)
    })
    this.#persisted = to
    this.#persistedAt = Date.now()
    this.#announce(events, to)
  }

  #announce(events: readonly RecordedEvent[], to: number): void {
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

