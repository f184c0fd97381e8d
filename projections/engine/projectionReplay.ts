import { setTimeout as sleep } from 'node:timers/promises'
import { sql, type Kysely, type Transaction } from 'kysely'
import { readCheckpoint, readLiveCheckpoint, type EngineTables } from './checkpoints.ts'
import { projectionSchema, replayCheckpointName, replaySchema, type Projection } from './projection.ts'
import type { SharedLogReader } from './sharedLogReader.ts'
import { createProjectionTables, SubscriberRunner, type ResolvedEngineOptions, type RunnerIdentity } from './subscriberRunner.ts'
import { DEFAULT_BATCH_SIZE } from './engineDefaults.ts'

export type ReplayState = 'pending' | 'running' | 'swapping' | 'swapped' | 'cancelled' | 'failed'

export interface ReplayProgress {
  name: string
  targetVersion: number
  state: ReplayState
  /** events handled so far (this run and, after a crash, before it) */
  done: number
  /** matching events in the log when the replay began (null when the store cannot count) */
  total: number | null
  position: number
  headAtStart: number
  eventsPerSecond: number
  /** seconds left at the current rate (null while unknown) */
  etaSeconds: number | null
  startedAt: string
  lastError: string | null
}

export interface ReplayHooks {
  requestedBy: string
  /** called after the new tables were swapped in */
  onSwapped(): Promise<void>
  /** called when the replay ends without a swap (cancelled, failed) */
  onEnded(): void
}

const RETIRED_SUFFIX = '__retired'

/** events per batch of a replay when the engine runs with its default batch size (a rebuild reads the whole log; at 2,000 the five dashboard replays peaked at 293 MB) */
export const REPLAY_BATCH_SIZE = 1_000

/** events per batch of a replay run with these engine options */
export function replayBatchSize(options: Pick<ResolvedEngineOptions, 'batchSize'>): number {
  return options.batchSize === DEFAULT_BATCH_SIZE ? REPLAY_BATCH_SIZE : options.batchSize
}

/**
 * A projection's replay: builds its tables from position 0 in `proj_<name>__replay`, with its own
 * checkpoint (`<name>@replay`), while the serving tables go on; then swaps them atomically:
 * in one transaction it holds the projection's checkpoint row (the live runner's next batch waits
 * on it), applies the last events up to that checkpoint to the new tables, renames the schemas and
 * moves the checkpoint (version and position) to the new tables. A live runner that was mid-batch
 * finds the checkpoint moved and goes on from it, on the new tables. A crash anywhere before the
 * swap resumes from the replay's own checkpoint; a crash after it has nothing left to do.
 */
export class ProjectionReplay {
  readonly projection: Projection
  readonly #options: ResolvedEngineOptions
  readonly #hooks: ReplayHooks
  readonly #runner: SubscriberRunner
  #state: ReplayState = 'pending'
  #total: number | null = null
  #headAtStart = 0
  #doneBefore = 0
  #startedAt = new Date()
  #runStartedAt = Date.now()
  #lastError: string | null = null
  #drive: Promise<void> | undefined
  #stopRequested = false
  #finished: Promise<ReplayState>
  #finish!: (state: ReplayState) => void

  /**
   * `reader`: the reader the engine's replays share (each page of the log read once for all of
   * them, and committed for all of them in one transaction); without one, the replay reads alone.
   * Each batch's transaction commits without waiting for its WAL to reach the disk (as every
   * projection batch does): a crash may lose the last few batches, rows and checkpoint together,
   * and the replay resumes from the checkpoint that did reach it; the swap itself commits durably.
   */
  constructor(projection: Projection, options: ResolvedEngineOptions, hooks: ReplayHooks, reader?: SharedLogReader) {
    this.projection = projection
    this.#options = options
    this.#hooks = hooks
    const identity: RunnerIdentity = { checkpointName: replayCheckpointName(projection.name), version: projection.version, schema: replaySchema(projection.name) }
    this.#runner = new SubscriberRunner(projection, { ...options, batchSize: replayBatchSize(options) }, identity, reader)
    this.#finished = new Promise((resolve) => (this.#finish = resolve))
  }

  get #db(): Kysely<EngineTables> {
    return this.#options.db as Kysely<EngineTables>
  }

  get state(): ReplayState {
    return this.#state
  }

  /** Resolves with the final state: swapped, cancelled or failed. */
  done(): Promise<ReplayState> {
    return this.#finished
  }

  /** Drops a replay's tables and checkpoint and records why (a crash left it for code that changed since). */
  static async discard(options: ResolvedEngineOptions, projection: Projection, reason: string): Promise<void> {
    const db = options.db as Kysely<EngineTables>
    await sql`drop schema if exists ${sql.id(replaySchema(projection.name))} cascade`.execute(db)
    await db.deleteFrom('projection_checkpoints').where('name', '=', replayCheckpointName(projection.name)).execute()
    await db
      .updateTable('projection_replays')
      .set({ state: 'cancelled', last_error: reason, finished_at: new Date(), updated_at: sql`now()` })
      .where('name', '=', projection.name)
      .where('state', '=', 'running')
      .execute()
  }

  /**
   * Cancels the replay of a projection from any process: its row says so at once (a process
   * running it stops at its next step) and its tables and checkpoint are dropped.
   */
  static async cancelAnywhere(options: Pick<ResolvedEngineOptions, 'db'>, projection: Projection): Promise<boolean> {
    const db = options.db as Kysely<EngineTables>
    const updated = await db
      .updateTable('projection_replays')
      .set({ state: 'cancelled', last_error: 'cancelled', finished_at: new Date(), updated_at: sql`now()` })
      .where('name', '=', projection.name)
      .where('state', '=', 'running')
      .executeTakeFirst()
    return Number(updated.numUpdatedRows) > 0
  }

  start(): void {
    if (this.#drive) return
    this.#stopRequested = false
    this.#drive = this.#run().finally(() => {
      this.#drive = undefined
    })
  }

  notify(position: number): void {
    this.#runner.notify(position)
  }

  progress(): ReplayProgress {
    const done = this.#doneBefore + this.#runner.handled
    const seconds = (Date.now() - this.#runStartedAt) / 1000
    const rate = seconds > 0 ? this.#runner.handled / seconds : 0
    const left = this.#total === null ? null : Math.max(0, this.#total - done)
    return {
      name: this.projection.name,
      targetVersion: this.projection.version,
      state: this.#state,
      done,
      total: this.#total,
      position: this.#runner.position,
      headAtStart: this.#headAtStart,
      eventsPerSecond: Math.round(rate),
      etaSeconds: left === null || rate === 0 ? null : Math.round(left / rate),
      startedAt: this.#startedAt.toISOString(),
      lastError: this.#lastError,
    }
  }

  /** Stops working (process shutdown) without giving the replay up: it resumes from its checkpoint later. */
  async pause(): Promise<void> {
    this.#stopRequested = true
    await this.#runner.stop()
    await this.#drive
  }

  /** Gives the replay up: its tables and checkpoint are dropped; the serving tables stay as they are. */
  async cancel(): Promise<void> {
    await this.pause()
    await ProjectionReplay.discard(this.#options, this.projection, 'cancelled')
    this.#state = 'cancelled'
    this.#finish('cancelled')
    this.#hooks.onEnded()
  }

  async #begin(): Promise<void> {
    const { name, version, eventTypes } = this.projection
    const identity = this.#runner.identity
    const row = await this.#db.selectFrom('projection_replays').selectAll().where('name', '=', name).executeTakeFirst()
    const resumable = row?.state === 'running' && row.target_version === version && (await readCheckpoint(this.#db, identity.checkpointName, version)) !== undefined
    if (resumable) {
      this.#total = row.total_events === null ? null : Number(row.total_events)
      this.#headAtStart = Number(row.head_at_start)
      this.#startedAt = new Date(row.started_at)
    } else {
      await this.#db.deleteFrom('projection_checkpoints').where('name', '=', identity.checkpointName).execute()
      this.#headAtStart = await this.#options.store.headPosition()
      this.#total = this.#options.store.countEvents ? await this.#options.store.countEvents({ upTo: this.#headAtStart, eventTypes }) : null
      this.#startedAt = new Date()
      await this.#db
        .insertInto('projection_replays')
        .values({ name, target_version: version, state: 'running', total_events: this.#total, head_at_start: this.#headAtStart, last_error: null, requested_by: this.#hooks.requestedBy, finished_at: null })
        .onConflict((conflict) =>
          conflict.column('name').doUpdateSet({
            target_version: version,
            state: 'running',
            total_events: this.#total,
            head_at_start: this.#headAtStart,
            last_error: null,
            requested_by: this.#hooks.requestedBy,
            started_at: sql`now()`,
            updated_at: sql`now()`,
            finished_at: null,
          }),
        )
        .execute()
      await createProjectionTables(this.#options.db, this.projection, identity, 0)
    }
    await this.#runner.load()
    this.#doneBefore = resumable && this.#options.store.countEvents ? await this.#options.store.countEvents({ upTo: this.#runner.position, eventTypes }) : 0
    this.#runner.handled = 0
    this.#runStartedAt = Date.now()
  }

  async #run(): Promise<void> {
    try {
      await this.#begin()
      this.#state = 'running'
      this.#runner.start()
      while (!this.#stopRequested) {
        if (await this.#cancelledElsewhere()) return
        const live = await readLiveCheckpoint(this.#db, this.projection.name)
        const target = Math.max(live?.position ?? 0, this.#headAtStart)
        // build until caught up with the serving tables, then try to swap
        if (!(await this.#runner.waitFor(target, 1000))) continue
        if (this.#stopRequested) break
        if (await this.#swap()) return
      }
    } catch (error) {
      this.#lastError = error instanceof Error ? error.message : String(error)
      this.#state = 'failed'
      this.#options.logger.error({ err: error, projection: this.projection.name }, 'projection replay failed')
      await this.#runner.stop('failed').catch(() => undefined)
      await this.#db
        .updateTable('projection_replays')
        .set({ state: 'failed', last_error: this.#lastError, finished_at: new Date(), updated_at: sql`now()` })
        .where('name', '=', this.projection.name)
        .execute()
        .catch(() => undefined)
      this.#finish('failed')
      this.#hooks.onEnded()
    }
  }

  /** Another process cancelled this replay (its row says so): stop, leaving nothing behind. */
  async #cancelledElsewhere(): Promise<boolean> {
    const row = await this.#db.selectFrom('projection_replays').select('state').where('name', '=', this.projection.name).executeTakeFirst()
    if (row?.state === 'running') return false
    await this.#runner.stop()
    await ProjectionReplay.discard(this.#options, this.projection, 'cancelled')
    this.#state = 'cancelled'
    this.#finish('cancelled')
    this.#hooks.onEnded()
    return true
  }

  /** Applies the events after `from` up to `to` (inclusive) to the replay tables, in `trx` or in transactions of their own. */
  async #applyUpTo(from: number, to: number, trx?: Transaction<any>): Promise<number> {
    const { store, batchSize } = this.#options
    let position = from
    while (position < to) {
      const slice = await store.readAll({ after: position, limit: batchSize, eventTypes: this.projection.eventTypes })
      if (slice.events.length > 0) {
        const write = async (t: Transaction<any>) => {
          await sql`select set_config('search_path', ${`${replaySchema(this.projection.name)}, public`}, true)`.execute(t)
          await this.projection.handle(slice.events, t)
          await sql`select set_config('search_path', 'public', true)`.execute(t)
        }
        if (trx) await write(trx)
        else await this.#options.db.transaction().execute(write)
        this.#runner.handled += slice.events.length
      }
      if (slice.scannedTo <= position) {
        await sleep(5) // an older writer is still open: what it wrote will be readable in a moment
        continue
      }
      position = slice.scannedTo
    }
    return position
  }

  /** One attempt at the swap; false when the serving tables moved on meanwhile (try again). */
  async #swap(): Promise<boolean> {
    const { name, version } = this.projection
    const identity = this.#runner.identity
    this.#state = 'swapping'
    await this.#runner.stop('stopped')
    const replayCheckpoint = await readCheckpoint(this.#db, identity.checkpointName, version)
    let from = replayCheckpoint?.position ?? this.#runner.position
    if (this.#options.singleConnection) {
      // one connection: the last events are applied first, outside the swap's transaction
      const live = await readLiveCheckpoint(this.#db, name)
      from = await this.#applyUpTo(from, live?.position ?? 0)
    }
    const swapped = await this.#options.db.transaction().execute(async (trx) => {
      const live = await trx.selectFrom('projection_checkpoints').selectAll().where('name', '=', name).orderBy('version', 'desc').forUpdate().executeTakeFirst()
      const livePosition = live?.position ?? 0
      if (from < livePosition) {
        if (this.#options.singleConnection) return false
        // the serving runner is held at this checkpoint now: bring the new tables level with it
        from = await this.#applyUpTo(from, livePosition, trx)
      }
      const serving = projectionSchema(name)
      const retired = `${serving}${RETIRED_SUFFIX}`
      await sql`drop schema if exists ${sql.id(retired)} cascade`.execute(trx)
      await sql`alter schema ${sql.id(serving)} rename to ${sql.id(retired)}`.execute(trx)
      await sql`alter schema ${sql.id(replaySchema(name))} rename to ${sql.id(serving)}`.execute(trx)
      await trx.deleteFrom('projection_checkpoints').where('name', '=', name).execute()
      await trx.deleteFrom('projection_checkpoints').where('name', '=', identity.checkpointName).execute()
      await trx.insertInto('projection_checkpoints').values({ name, version, position: Math.max(from, livePosition), status: 'live', last_error: null }).execute()
      await trx
        .updateTable('projection_replays')
        .set({ state: 'swapped', finished_at: new Date(), updated_at: sql`now()` })
        .where('name', '=', name)
        .execute()
      return true
    })
    if (!swapped) {
      this.#state = 'running'
      await this.#runner.load()
      this.#runner.start()
      return false
    }
    // the old tables: dropped once the queries still reading them are done
    await sql`drop schema if exists ${sql.id(`${projectionSchema(name)}${RETIRED_SUFFIX}`)} cascade`
      .execute(this.#options.db)
      .catch((error: unknown) => this.#options.logger.warn({ err: error, projection: name }, 'could not drop the retired tables yet'))
    this.#state = 'swapped'
    this.#options.logger.info({ projection: name, version, position: from }, 'projection replay swapped in')
    await this.#hooks.onSwapped()
    this.#finish('swapped')
    return true
  }
}
