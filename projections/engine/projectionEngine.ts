import { sql, type Kysely } from 'kysely'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { readLiveCheckpoint, type EngineTables, type SubscriberStatus } from './checkpoints.ts'
import { projectionSchema, type Projection, type Subscriber } from './projection.ts'
import { ProjectionReplay, replayBatchSize, type ReplayProgress } from './projectionReplay.ts'
import { DEFAULT_BATCH_SIZE, DEFAULT_COMMIT_LANES } from './engineDefaults.ts'
import { SharedLogReader } from './sharedLogReader.ts'
import { createProjectionTables, SubscriberRunner, type CommittedBatch, type ResolvedEngineOptions } from './subscriberRunner.ts'

export { CheckpointMoved, SubscriberRunner, type CommittedBatch, type ResolvedEngineOptions, type RunnerIdentity } from './subscriberRunner.ts'

/** Told of each projection batch this process commits (after the commit), with the new checkpoint. */
export type CommitListener = (projectionName: string, position: number, batch: CommittedBatch) => void

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
  /**
   * The database is one connection (the embedded PGlite): a transaction holds it whole, so a
   * replay's swap cannot read events while it holds the projection's checkpoint.
   */
  singleConnection?: boolean
  /**
   * Transactions each page of the shared log reader is committed in, concurrently: 1 commits every
   * projection's rows and checkpoint of a page in one transaction; more split the projections
   * into that many groups of about equal handling time, so a page takes the time of the slowest
   * group rather than of all of them (each still reads the page once).
   */
  commitLanes?: number
}

export interface SubscriberReport {
  name: string
  version: number
  kind: Subscriber['kind']
  position: number
  status: SubscriberStatus
  lastError: string | null
  /** the replay building this projection's next tables, if one runs */
  replay: ReplayProgress | null
}

async function schemaExists(db: Kysely<any>, schema: string): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`select exists (select 1 from information_schema.schemata where schema_name = ${schema}) as found`.execute(db)
  return rows[0]?.found === true
}

/**
 * The projector engine: runs every registered projection and reactor, each from its own
 * checkpoint, woken by the event store's notifications. The projections that have caught up share
 * one log reader (sharedLogReader.ts): each page of the log is read once and committed for all of
 * them in one transaction. A failing subscriber stops at the failing batch and retries with
 * backoff on its own while the others go on. A projection whose code version is newer
 * than the version its tables were built with is rebuilt by a replay while the old tables keep
 * serving; `replay()` rebuilds one on request.
 */
export class ProjectionEngine {
  readonly #options: ResolvedEngineOptions
  readonly #runners = new Map<string, SubscriberRunner>()
  readonly #replays = new Map<string, ProjectionReplay>()
  /** projections whose tables were built by another version: they serve, but do not run, until their replay swaps */
  readonly #awaitingRebuild = new Set<string>()
  #started = false
  #unsubscribe: (() => void) | undefined
  readonly #commitListeners = new Set<CommitListener>()
  /** reads the log once per page for every projection that has caught up, and commits their batches together */
  readonly #reader: SharedLogReader
  /** the same for the replays under way: each page read once for all of them (with the replays' batch size) */
  readonly #replayReader: SharedLogReader

  constructor(options: EngineOptions) {
    this.#options = {
      db: options.db,
      store: options.store,
      logger: options.logger ?? silentLogger,
      batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
      pollIntervalMs: options.pollIntervalMs ?? 1000,
      idleCheckpointIntervalMs: options.idleCheckpointIntervalMs ?? 5000,
      singleConnection: options.singleConnection ?? false,
      commitLanes: options.commitLanes ?? DEFAULT_COMMIT_LANES,
    }
    // one connection: nothing can commit concurrently
    const commitLanes = this.#options.singleConnection ? 1 : this.#options.commitLanes
    this.#reader = new SharedLogReader(this.#options, { commitLanes })
    this.#replayReader = new SharedLogReader({ ...this.#options, batchSize: replayBatchSize(this.#options) }, { joinsAtStart: true, commitLanes })
  }

  /** the engine's shared log reader (its members and page counts, for tests and status) */
  get reader(): SharedLogReader {
    return this.#reader
  }

  get #db(): Kysely<EngineTables> {
    return this.#options.db as Kysely<EngineTables>
  }

  register(...subscribers: Subscriber[]): this {
    for (const subscriber of subscribers) {
      if (this.#runners.has(subscriber.name)) throw new Error(`subscriber ${subscriber.name} registered twice`)
      if (!/^[a-z][a-z0-9_]*$/.test(subscriber.name)) throw new Error(`subscriber name ${subscriber.name} must be snake_case`)
      // projections share the engine's log reader; reactors (at least once, their handlers run
      // commands outside any transaction) read on their own
      const runner = new SubscriberRunner(subscriber, this.#options, undefined, subscriber.kind === 'projection' ? this.#reader : undefined)
      runner.onCommitted = (position, batch) => this.#committed(subscriber.name, position, batch)
      this.#runners.set(subscriber.name, runner)
    }
    return this
  }

  /**
   * Calls `listener` after each projection batch this process commits (not reactors', not a
   * replay's shadow tables; a replay's swap is announced as a commit of the projection). Other
   * processes learn of commits through the `projection_committed` notification
   * (projections/engine/commitNotifications.ts). Returns the unsubscribe.
   */
  onCommitted(listener: CommitListener): () => void {
    this.#commitListeners.add(listener)
    return () => this.#commitListeners.delete(listener)
  }

  #committed(name: string, position: number, batch: CommittedBatch): void {
    for (const listener of this.#commitListeners) {
      try {
        listener(name, position, batch)
      } catch (error) {
        this.#options.logger.error({ err: error, projection: name }, 'a commit listener failed')
      }
    }
  }

  /**
   * Creates the schemas, tables and checkpoints that do not exist yet; finds projections whose
   * tables an older version built (they get a replay) and replays a crash interrupted.
   */
  async prepare(): Promise<void> {
    for (const runner of this.#runners.values()) {
      const subscriber = runner.subscriber
      if (subscriber.kind === 'reactor') {
        if (!(await runner.load())) {
          // reactors start at the head: they react to what happens from now on, not to history
          const head = await this.#options.store.headPosition()
          await this.#db
            .insertInto('projection_checkpoints')
            .values({ name: subscriber.name, version: subscriber.version, position: head, status: 'catching_up', last_error: null })
            .onConflict((conflict) => conflict.columns(['name', 'version']).doNothing())
            .execute()
          await runner.load()
        }
        continue
      }
      const live = await readLiveCheckpoint(this.#db, subscriber.name)
      if (!live) {
        await createProjectionTables(this.#options.db, subscriber, runner.identity, 0)
      } else if (live.version !== subscriber.version) {
        // built by another version: those tables keep serving until the replay swaps new ones in
        this.#awaitingRebuild.add(subscriber.name)
        runner.status = 'rebuilding'
        await this.#adoptLegacySchema(subscriber.name, live.version)
      }
      await runner.load()
    }
    const interrupted = await this.#db.selectFrom('projection_replays').selectAll().where('state', '=', 'running').execute()
    for (const row of interrupted) {
      const runner = this.#runners.get(row.name)
      if (runner?.subscriber.kind !== 'projection') continue
      if (row.target_version !== runner.subscriber.version) {
        // the code changed since: that replay's target is no longer this code's version
        await ProjectionReplay.discard(this.#options, runner.subscriber, 'superseded by another version of the code')
        continue
      }
      this.#replays.set(row.name, this.#newReplay(runner.subscriber, row.requested_by))
    }
    for (const name of this.#awaitingRebuild) {
      if (!this.#replays.has(name)) this.#replays.set(name, this.#newReplay(this.#runners.get(name)!.subscriber as Projection, 'version change'))
    }
  }

  /** Tables built before schemas were named without a version: `proj_<name>_v<n>` becomes `proj_<name>`. */
  async #adoptLegacySchema(name: string, version: number): Promise<void> {
    const current = projectionSchema(name)
    const legacy = `${current}_v${version}`
    if (!(await schemaExists(this.#options.db, current)) && (await schemaExists(this.#options.db, legacy))) {
      await sql`alter schema ${sql.id(legacy)} rename to ${sql.id(current)}`.execute(this.#options.db)
    }
  }

  #newReplay(projection: Projection, requestedBy: string): ProjectionReplay {
    const replay: ProjectionReplay = new ProjectionReplay(projection, this.#options, {
      requestedBy,
      onSwapped: async () => {
        this.#replays.delete(projection.name)
        const runner = this.#runners.get(projection.name)!
        this.#awaitingRebuild.delete(projection.name)
        // the swap applied the last events to the new tables: readers of the projection may look again
        const swappedAt = replay.progress().position
        this.#committed(projection.name, swappedAt, { events: 0, lastPosition: swappedAt, lastRecordedAt: null })
        // a running runner finds the checkpoint moved at its next batch and goes on from it
        if (runner.running) return
        await runner.load()
        if (this.#started) runner.start()
      },
      onEnded: () => {
        this.#replays.delete(projection.name)
      },
    }, this.#replayReader)
    return replay
  }

  start(): void {
    this.#started = true
    // reactors keep their own reads and commits (at least once, their handlers run commands), but
    // when projections run too the shared reader tells them which pages hold events of theirs
    const observed = [...this.#runners.values()].some((runner) => runner.reader) ? [...this.#runners.values()].filter((runner) => !runner.reader) : []
    for (const runner of observed) this.#reader.observe(runner)
    this.#unsubscribe ??= this.#options.store.onAppended((position) => {
      this.#reader.notify(position)
      this.#replayReader.notify(position)
      for (const runner of this.#runners.values()) if (!observed.includes(runner)) runner.notify(position)
      for (const replay of this.#replays.values()) replay.notify(position)
    })
    for (const runner of this.#runners.values()) {
      if (!this.#awaitingRebuild.has(runner.subscriber.name)) runner.start()
    }
    for (const replay of this.#replays.values()) replay.start()
  }

  async stop(): Promise<void> {
    this.#started = false
    this.#unsubscribe?.()
    this.#unsubscribe = undefined
    await Promise.all([...this.#replays.values()].map((replay) => replay.pause()))
    await this.#replayReader.stop()
    await Promise.all([...this.#runners.values()].map((runner) => runner.stop()))
    await this.#reader.stop()
    for (const runner of this.#runners.values()) this.#reader.unobserve(runner)
  }

  names(): string[] {
    return [...this.#runners.keys()]
  }

  has(name: string): boolean {
    return this.#runners.has(name)
  }

  projection(name: string): Projection | undefined {
    const subscriber = this.#runners.get(name)?.subscriber
    return subscriber?.kind === 'projection' ? subscriber : undefined
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
    return [...this.#runners.values()].map((runner) => ({ ...runner.report(), replay: this.#replays.get(runner.subscriber.name)?.progress() ?? null }))
  }

  /**
   * Rebuilds a projection from position 0 into new tables beside the serving ones, and swaps them
   * in once caught up with the live log; the others are not touched. Resumes a replay of the same
   * projection that is already under way. Resolves when the replay is started; `replayDone(name)`
   * waits for the swap.
   */
  async replay(name: string, requestedBy = 'operator'): Promise<ProjectionReplay> {
    const projection = this.projection(name)
    if (!projection) throw new Error(`no projection named ${name}`)
    let replay = this.#replays.get(name)
    if (!replay) {
      replay = this.#newReplay(projection, requestedBy)
      this.#replays.set(name, replay)
    }
    replay.start()
    return replay
  }

  activeReplay(name: string): ProjectionReplay | undefined {
    return this.#replays.get(name)
  }

  async cancelReplay(name: string): Promise<boolean> {
    const replay = this.#replays.get(name)
    if (!replay) return false
    await replay.cancel()
    return true
  }
}
