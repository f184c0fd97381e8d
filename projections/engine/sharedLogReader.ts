import type { Kysely } from 'kysely'
import type { RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { advanceCheckpoint, advanceCheckpointInto, type EngineTables } from './checkpoints.ts'
import type { Projection } from './projection.ts'
import { CheckpointMoved, failurePause, type ResolvedEngineOptions, type SubscriberRunner } from './subscriberRunner.ts'
import { WakeablePause } from './wakeablePause.ts'

/** the longest pause before reading again events a notification announced but the reader cannot see yet */
const INVISIBLE_RETRY_CAP_MS = 20

/** What became of one lane's transaction. */
interface LaneOutcome {
  written: MemberBatch[]
  /** members whose checkpoint someone else had moved: skipped */
  moved: SubscriberRunner[]
  /** the member whose handler threw (nothing of the lane committed) */
  failed?: { runner: SubscriberRunner; error: unknown }
  /** the transaction failed otherwise (nothing of the lane committed) */
  error?: unknown
}

const compareNames = (a: SubscriberRunner, b: SubscriberRunner): number =>
  a.identity.checkpointName < b.identity.checkpointName ? -1 : a.identity.checkpointName > b.identity.checkpointName ? 1 : 0

/** One member's share of a page: its events and the checkpoint they take it to. */
interface MemberBatch {
  runner: SubscriberRunner
  events: RecordedEvent[]
  /** the checkpoint this runner's page transaction moved from */
  from: number
}

/**
 * One log reader for the projections of an engine. Each page of the log is read ONCE (the union of
 * the members' event types, from the lowest member position), every member gets its events of the
 * page in memory, and the page is committed for all of them in one transaction, or in
 * `commitLanes` concurrent ones (each member's rows and checkpoint always in the same one): per
 * member, its checkpoint moves (only if nobody else moved it: another process, a replay's swap)
 * and its handler writes its rows, with the search_path set to its schema. Every transaction locks
 * the checkpoints of its members in name order, so two engines on one database never deadlock.
 * The next page is read once every transaction of the page has ended.
 *
 * Members are runners that caught up on their own (SubscriberRunner joins when a read of its own
 * reaches the head). A member whose handler throws is taken out of the page, which is tried again
 * at once without it; the runner retries on its own with backoff and joins again once caught up,
 * so a failing projection never holds the others back. A member whose checkpoint was moved by
 * someone else is skipped in that page (its update matched no row, so its handler does not run)
 * and goes on from the moved checkpoint.
 *
 * Reactors are not members (their handlers run commands, at least once, outside any transaction)
 * but observers: a page tells them whether it holds events of theirs (then they are woken to read
 * and handle them on their own) or not (then they are moved past it in memory).
 */
export class SharedLogReader {
  readonly #engine: ResolvedEngineOptions
  readonly #members = new Set<SubscriberRunner>()
  /** runners (reactors) that read and commit on their own but learn from each page whether it holds events of theirs */
  readonly #observers = new Set<SubscriberRunner>()
  #running = false
  #loop: Promise<void> | undefined
  readonly #pause = new WakeablePause()
  #hint = 0
  /** the page being read or committed, and the members it was read for */
  #page: { members: ReadonlySet<SubscriberRunner>; done: Promise<void> } | undefined
  /** pages read and pages committed (tests and status: how much sharing happened) */
  pagesRead = 0
  pagesCommitted = 0

  /**
   * Whether runners join as soon as they start (replays, which all read the log from its start
   * together) rather than after catching up on their own (the live projections, whose reader must
   * not be held back by one far behind).
   */
  readonly joinsAtStart: boolean

  /** transactions a page is committed in, concurrently (1: one transaction for every member) */
  readonly #commitLanes: number
  /** each member's recent handling time of a batch, to balance the lanes */
  readonly #handlingMs = new WeakMap<SubscriberRunner, number>()

  constructor(engine: ResolvedEngineOptions, options: { joinsAtStart?: boolean; commitLanes?: number } = {}) {
    this.#engine = engine
    this.joinsAtStart = options.joinsAtStart ?? false
    this.#commitLanes = Math.max(1, Math.floor(options.commitLanes ?? 1))
  }

  get members(): readonly SubscriberRunner[] {
    return [...this.#members]
  }

  /** A runner that caught up on its own: from now on this reader reads and commits for it. */
  join(runner: SubscriberRunner): void {
    if (runner.subscriber.kind !== 'projection') throw new Error(`subscriber ${runner.subscriber.name}: only projections share a log reader`)
    this.#members.add(runner)
    if (!this.#running) {
      this.#running = true
      this.#loop = this.#run()
    } else {
      this.#pause.wake()
    }
  }

  /**
   * A runner that goes on reading on its own (a reactor) but is woken only when a page holds
   * events of its types, and otherwise moved past the page in memory: it no longer needs a read
   * of its own after every append.
   */
  observe(runner: SubscriberRunner): void {
    this.#observers.add(runner)
  }

  unobserve(runner: SubscriberRunner): void {
    this.#observers.delete(runner)
  }

  /** Takes a runner out; resolves once no page that includes it is in flight. */
  async leave(runner: SubscriberRunner): Promise<void> {
    this.#members.delete(runner)
    const page = this.#page
    if (page?.members.has(runner)) await page.done
  }

  notify(position: number): void {
    if (position > this.#hint) this.#hint = position
    // no page will be read for the observers while there is no member: they read on their own
    if (this.#members.size === 0) for (const runner of this.#observers) runner.notify(position)
    this.#pause.wake()
  }

  /** Stops reading (the members must have left, or be stopped by their runners). */
  async stop(): Promise<void> {
    this.#running = false
    this.#pause.wake()
    await this.#loop
    this.#loop = undefined
  }

  #lowestPosition(): number {
    let lowest = Infinity
    for (const runner of this.#members) lowest = Math.min(lowest, runner.position)
    return lowest
  }

  async #run(): Promise<void> {
    let failures = 0
    let invisibleRetries = 0
    while (this.#running) {
      if (this.#members.size === 0) {
        await this.#pause.for(this.#engine.pollIntervalMs)
        continue
      }
      let readAny: boolean | undefined
      const members = new Set(this.#members)
      let finish!: () => void
      this.#page = { members, done: new Promise<void>((resolve) => (finish = resolve)) }
      try {
        readAny = await this.#step([...members])
        failures = 0
      } catch (error) {
        // the read or the commit itself failed (a member's handler failing is dealt with in #step)
        failures++
        this.#engine.logger.error({ err: error, failures }, 'the shared log reader failed to read or commit a page; retrying')
      } finally {
        this.#page = undefined
        finish()
      }
      if (readAny === undefined) {
        await this.#pause.for(failurePause(failures))
        continue
      }
      if (readAny) {
        invisibleRetries = 0
        continue
      }
      if (this.#hint > this.#lowestPosition()) {
        // notified of events we cannot see yet: an earlier writer's transaction is still open
        invisibleRetries++
        await this.#pause.for(Math.min(INVISIBLE_RETRY_CAP_MS, 2 ** invisibleRetries))
      } else {
        invisibleRetries = 0
        await this.#pause.for(this.#engine.pollIntervalMs)
      }
    }
  }

  /** Wakes the observers with events in the page; moves the others past it. */
  #tellObservers(observers: readonly SubscriberRunner[], from: number, events: readonly RecordedEvent[], to: number): void {
    for (const runner of observers) {
      if (!runner.running) continue
      if (runner.position < from) {
        // behind the page: only a read of its own can tell what lies between
        runner.notify(to, true)
        continue
      }
      let last = 0
      for (const event of events) if (event.position > runner.position && runner.accepts(event.type)) last = event.position
      if (last > 0) runner.notify(last, true)
      else runner.skipped(to)
    }
  }

  /** One page: read once, committed for every member in its lane's transaction. True when events were handled. */
  async #step(members: SubscriberRunner[]): Promise<boolean> {
    const { store, batchSize } = this.#engine
    // one order for every engine on the database: two pages of two processes lock the same
    // checkpoint rows in the same order
    members.sort(compareNames)
    let from = Infinity
    const types = new Set<string>()
    for (const runner of members) {
      from = Math.min(from, runner.position)
      for (const type of runner.subscriber.eventTypes) types.add(type)
    }
    const observers = [...this.#observers]
    for (const runner of observers) for (const type of runner.subscriber.eventTypes) types.add(type)
    const slice = await store.readAll({ after: from, limit: batchSize, eventTypes: [...types] })
    this.pagesRead++
    const to = slice.scannedTo
    this.#tellObservers(observers, from, slice.events, to)
    // per member, in the sorted order: its events of the page (none: it only skips them)
    const batches: MemberBatch[] = []
    const idle: SubscriberRunner[] = []
    let anyEvents = false
    for (const runner of members) {
      if (to <= runner.position) continue
      const events = slice.events.filter((event) => event.position > runner.position && runner.accepts(event.type))
      batches.push({ runner, events, from: runner.persisted })
      if (events.length > 0) anyEvents = true
      else idle.push(runner)
    }
    if (!anyEvents) {
      for (const runner of idle) {
        runner.skipped(to)
        if (!runner.idleCheckpointDue) continue
        try {
          await runner.persistSkipped()
        } catch (error) {
          if (!(error instanceof CheckpointMoved)) throw error
          if (!(await runner.adoptMovedCheckpoint())) this.#members.delete(runner)
        }
      }
      return false
    }
    // members with nothing in the page move their checkpoint in the same transaction only when
    // their skipped-only checkpoint is due
    for (const runner of idle) runner.skipped(to)
    const committing = batches.filter((batch) => batch.events.length > 0 || batch.runner.idleCheckpointDue)
    // each lane's members learn of their commit as soon as that lane ends (readers of a quick
    // projection do not wait for the slowest lane); a runner is in one lane only
    const outcomes = await Promise.all(
      this.#lanes(committing).map(async (lane) => {
        const outcome = await this.#commitLane(lane, to)
        for (const batch of outcome.written) batch.runner.committed(batch.events, to)
        return outcome
      }),
    )
    this.pagesCommitted++
    let failure: unknown
    for (const outcome of outcomes) {
      for (const runner of outcome.moved) {
        if (!(await runner.adoptMovedCheckpoint())) this.#members.delete(runner)
      }
      if (outcome.failed) {
        // this member's handler threw: the page goes on without it, the member on its own
        this.#members.delete(outcome.failed.runner)
        outcome.failed.runner.detach(outcome.failed.error)
      } else if (outcome.error !== undefined) {
        failure ??= outcome.error
      }
    }
    // the lanes that committed are done; a lane that failed otherwise is read again after a pause
    if (failure !== undefined) throw failure
    return true
  }

  /**
   * The page's batches in `commitLanes` groups of about equal cost (by each member's recent
   * handling time), each in the members' one order. One lane: one transaction for the page.
   */
  #lanes(batches: MemberBatch[]): MemberBatch[][] {
    const count = Math.min(this.#commitLanes, batches.length)
    if (count <= 1) return [batches]
    const lanes = Array.from({ length: count }, () => ({ cost: 0, batches: [] as MemberBatch[] }))
    const costOf = (batch: MemberBatch) => (batch.events.length === 0 ? 0 : (this.#handlingMs.get(batch.runner) ?? 1))
    for (const batch of [...batches].sort((a, b) => costOf(b) - costOf(a))) {
      const lightest = lanes.reduce((best, lane) => (lane.cost < best.cost ? lane : best))
      lightest.batches.push(batch)
      lightest.cost += costOf(batch)
    }
    return lanes.filter((lane) => lane.batches.length > 0).map((lane) => lane.batches.sort((a, b) => compareNames(a.runner, b.runner)))
  }

  /** One transaction for the batches of a lane: per member, its checkpoint, then its rows. */
  async #commitLane(batches: readonly MemberBatch[], to: number): Promise<LaneOutcome> {
    const outcome: LaneOutcome = { written: [], moved: [] }
    let handling: MemberBatch | undefined
    try {
      await this.#engine.db.transaction().execute(async (trx) => {
        outcome.written = []
        outcome.moved = []
        for (const batch of batches) {
          const { identity } = batch.runner
          const db = trx as Kysely<EngineTables>
          // the checkpoint first: a member whose checkpoint someone else moved is skipped, before writing
          const advanced =
            batch.events.length === 0
              ? await advanceCheckpoint(db, identity.checkpointName, identity.version, batch.from, to)
              : await advanceCheckpointInto(db, identity.checkpointName, identity.version, batch.from, to, identity.schema)
          if (!advanced) {
            outcome.moved.push(batch.runner)
            continue
          }
          if (batch.events.length > 0) {
            handling = batch
            const started = performance.now()
            await (batch.runner.subscriber as Projection).handle(batch.events, trx)
            const took = performance.now() - started
            this.#handlingMs.set(batch.runner, 0.8 * (this.#handlingMs.get(batch.runner) ?? took) + 0.2 * took)
            handling = undefined
          }
          outcome.written.push(batch)
        }
      })
      return outcome
    } catch (error) {
      // nothing of the lane committed
      if (handling) return { written: [], moved: [], failed: { runner: handling.runner, error } }
      return { written: [], moved: [], error }
    }
  }
}
