import { sql, type Kysely } from 'kysely'
import type { EventStore, RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { advanceCheckpoint, readCheckpoint, recordCheckpointStatus, type EngineTables, type SubscriberStatus } from './checkpoints.ts'
import { projectionSchema, type Projection, type Subscriber } from './projection.ts'

export interface EngineLogger {
  info(object: object, message?: string): void
  warn(object: object, message?: string): void
  error(object: object, message?: string): void
}

const silentLogger: EngineLogger = { info() {}, warn() {}, error() {} }

export interface EngineOptions {
  db: Kysely<any>
  store: EventStore
  logger?: EngineLogger
  /** events per read and per transaction */
  batchSize?: number
  /** safety-net poll when no notification arrives */
  pollIntervalMs?: number
  /** persist a checkpoint that only skipped unrelated events at most this often */
  idleCheckpointIntervalMs?: number
}

export interface SubscriberReport {
  name: string
  version: number
  kind: Subscriber['kind']
  position: number
  status: SubscriberStatus
  lastError: string | null
}

class CheckpointMoved extends Error {}

type ResolvedOptions = Required<Omit<EngineOptions, 'logger'>> & { logger: EngineLogger }

/** Runs one subscriber: catch-up from its checkpoint, then live on the store's notifications. */
class SubscriberRunner {
  readonly subscriber: Subscriber
  readonly #engine: ResolvedOptions
  position = 0
  #persisted = 0
  #persistedAt = 0
  #hint = 0
  status: SubscriberStatus = 'starting'
  lastError: string | null = null
  #running = false
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #waiters: { position: number; resolve: (reached: boolean) => void }[] = []

  constructor(subscriber: Subscriber, engine: ResolvedOptions) {
    this.subscriber = subscriber
    this.#engine = engine
  }

  get #db(): Kysely<EngineTables> {
    return this.#engine.db as Kysely<EngineTables>
  }

  /** Creates the checkpoint row (and a projection's schema and tables) on first run. */
  async prepare(): Promise<void> {
    const { name, version } = this.subscriber
    const existing = await readCheckpoint(this.#db, name, version)
    if (!existing) {
      // reactors start at the head: they react to what happens from now on, not to history
      const start = this.subscriber.kind === 'reactor' ? await this.#engine.store.headPosition() : 0
      await this.#engine.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtext(${`projection:${name}:${version}`}))`.execute(trx)
        const again = await readCheckpoint(trx as Kysely<EngineTables>, name, version)
        if (again) return
        if (this.subscriber.kind === 'projection') {
          const schema = projectionSchema(name, version)
          await sql`create schema if not exists ${sql.id(schema)}`.execute(trx)
          // unqualified names in createTables land in the projection's schema
          await sql`select set_config('search_path', ${`${schema}, public`}, true)`.execute(trx)
          await this.subscriber.createTables(trx, schema)
        }
        await trx.insertInto('projection_checkpoints').values({ name, version, position: start, status: 'catching_up', last_error: null }).execute()
      })
    }
    const checkpoint = await readCheckpoint(this.#db, name, version)
    this.position = this.#persisted = checkpoint?.position ?? 0
    this.#persistedAt = Date.now()
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.status = 'catching_up'
    this.#loop = this.#run()
  }

  async stop(): Promise<void> {
    this.#running = false
    this.#wake?.()
    await this.#loop
    this.status = 'stopped'
    for (const waiter of this.#waiters.splice(0)) waiter.resolve(false)
  }

  notify(position: number): void {
    if (position > this.#hint) this.#hint = position
    this.#wake?.()
  }

  waitFor(position: number, timeoutMs: number): Promise<boolean> {
    if (this.position >= position) return Promise.resolve(true)
    if (timeoutMs <= 0) return Promise.resolve(false)
    if (!this.#running) return this.#pollCheckpoint(position, timeoutMs)
    return new Promise((resolve) => {
      const waiter = { position, resolve }
      this.#waiters.push(waiter)
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
   * When another process runs this projection, its committed checkpoint is what tells: poll it.
   * (That process persists a checkpoint that only skipped unrelated events every few seconds.)
   */
  async #pollCheckpoint(position: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const checkpoint = await readCheckpoint(this.#db, this.subscriber.name, this.subscriber.version)
      if (checkpoint && checkpoint.position >= position) {
        this.position = Math.max(this.position, checkpoint.position)
        return true
      }
      if (Date.now() >= deadline) return false
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))))
    }
  }

  report(): SubscriberReport {
    const { name, version, kind } = this.subscriber
    return { name, version, kind, position: this.position, status: this.status, lastError: this.lastError }
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
        readAny = await this.#step()
        if (failures > 0 || this.status !== 'live') {
          this.status = 'live'
          this.lastError = null
          if (failures > 0) await recordCheckpointStatus(this.#db, this.subscriber.name, this.subscriber.version, 'live', null)
        }
        failures = 0
      } catch (error) {
        if (error instanceof CheckpointMoved) {
          // another runner of the same projection committed first: continue from its checkpoint
          const checkpoint = await readCheckpoint(this.#db, this.subscriber.name, this.subscriber.version).catch(() => undefined)
          if (checkpoint) {
            this.#persisted = checkpoint.position
            this.#moved(Math.max(this.position, checkpoint.position))
          }
          continue
        }
        if (!this.#running) break
        failures++
        this.status = 'failed'
        this.lastError = error instanceof Error ? error.message : String(error)
        this.#engine.logger.error({ err: error, projection: this.subscriber.name, position: this.position, failures }, 'projection batch failed; retrying')
        await recordCheckpointStatus(this.#db, this.subscriber.name, this.subscriber.version, 'failed', this.lastError).catch(() => undefined)
        await this.#pause(Math.min(30_000, 250 * 2 ** Math.min(failures, 7)))
        continue
      }
      if (readAny) {
        invisibleRetries = 0
        continue
      }
      if (this.#hint > this.position) {
        // notified of events we cannot see yet: an earlier writer's transaction is still open
        invisibleRetries++
        await this.#pause(Math.min(200, 2 ** invisibleRetries))
      } else {
        invisibleRetries = 0
        await this.#pause(this.#engine.pollIntervalMs)
      }
    }
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
    this.#moved(slice.scannedTo)
    return true
  }

  async #persist(to: number): Promise<void> {
    const ok = await advanceCheckpoint(this.#db, this.subscriber.name, this.subscriber.version, this.#persisted, to)
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
    const schema = projectionSchema(projection.name, projection.version)
    await this.#engine.db.transaction().execute(async (trx) => {
      await sql`select set_config('search_path', ${`${schema}, public`}, true)`.execute(trx)
      const ok = await advanceCheckpoint(trx as Kysely<EngineTables>, projection.name, projection.version, this.#persisted, to)
      if (!ok) throw new CheckpointMoved()
      await projection.handle(events, trx)
    })
    this.#persisted = to
    this.#persistedAt = Date.now()
  }
}

/**
 * The projector engine: runs every registered projection and reactor, each from its own
 * checkpoint, woken by the event store's notifications. A failing subscriber stops at the failing
 * batch and retries with backoff while the others go on.
 */
export class ProjectionEngine {
  readonly #options: ResolvedOptions
  readonly #runners = new Map<string, SubscriberRunner>()
  #unsubscribe: (() => void) | undefined

  constructor(options: EngineOptions) {
    this.#options = {
      db: options.db,
      store: options.store,
      logger: options.logger ?? silentLogger,
      batchSize: options.batchSize ?? 500,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      idleCheckpointIntervalMs: options.idleCheckpointIntervalMs ?? 5000,
    }
  }

  register(...subscribers: Subscriber[]): this {
    for (const subscriber of subscribers) {
      if (this.#runners.has(subscriber.name)) throw new Error(`subscriber ${subscriber.name} registered twice`)
      if (!/^[a-z][a-z0-9_]*$/.test(subscriber.name)) throw new Error(`subscriber name ${subscriber.name} must be snake_case`)
      this.#runners.set(subscriber.name, new SubscriberRunner(subscriber, this.#options))
    }
    return this
  }

  /** Creates schemas, tables and checkpoints that do not exist yet. */
  async prepare(): Promise<void> {
    for (const runner of this.#runners.values()) await runner.prepare()
  }

  start(): void {
    this.#unsubscribe ??= this.#options.store.onAppended((position) => {
      for (const runner of this.#runners.values()) runner.notify(position)
    })
    for (const runner of this.#runners.values()) runner.start()
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    await Promise.all([...this.#runners.values()].map((runner) => runner.stop()))
  }

  names(): string[] {
    return [...this.#runners.keys()]
  }

  has(name: string): boolean {
    return this.#runners.has(name)
  }

  /** Resolves true once the subscriber has processed everything up to `position`. */
  waitFor(name: string, position: number, timeoutMs: number): Promise<boolean> {
    const runner = this.#runners.get(name)
    if (!runner) throw new Error(`no subscriber named ${name}`)
    return runner.waitFor(position, timeoutMs)
  }

  async waitForAll(position: number, timeoutMs: number): Promise<boolean> {
    const results = await Promise.all([...this.#runners.keys()].map((name) => this.waitFor(name, position, timeoutMs)))
    return results.every(Boolean)
  }

  report(): SubscriberReport[] {
    return [...this.#runners.values()].map((runner) => runner.report())
  }
}

