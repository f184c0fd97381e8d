import {
  JobDelayed,
  JobUnrecoverable,
  type CloseWorkerOptions,
  type JobInfo,
  type JobProcessor,
  type JobQueue,
  type NewJob,
  type QueueCounts,
  type QueueSystem,
  type QueueWorker,
  type WorkerOptions,
} from './jobQueue.ts'
import { asError, backoffDelay, checkQueueName, checkWorkerOptions, DEFAULT_FAILED_LIMIT, resolveBatch } from './jobRules.ts'

/**
 * The job queue of the embedded default (no REDIS_URL): the same semantics as the BullMQ adapter,
 * in this process's memory. Jobs do not survive a restart (the service re-enqueues outstanding
 * work from its read models at start).
 *
 * - Jobs wait in FIFO order until a worker of their queue has a free slot; jobs added before any
 *   worker exists wait for one.
 * - Delayed jobs (a delay, a backoff, a JobDelayed) wait on unref'd timers: they never keep the
 *   process alive by themselves.
 * - A rate limit is a token bucket per queue (capacity `max`, refilled at `max` per `durationMs`)
 *   shared by all of the queue's workers; a token is taken when a job starts.
 * - A worker closed with `force` abandons its active jobs: they go back to waiting at once (as a
 *   dead worker's stalled jobs do on BullMQ), and whatever their processors do later is ignored.
 *   A job abandoned more than `maxStalledCount` times fails.
 */

export interface InProcessQueueOptions {
  /** times a job may be taken back from a worker closed with force before it fails (default 2) */
  maxStalledCount?: number
  /** the time in ms since the epoch (default Date.now) */
  now?: () => number
}

type JobState = 'waiting' | 'delayed' | 'active' | 'failed' | 'gone'

interface Entry<Data> {
  readonly id: string
  readonly data: Data
  readonly attempts: number
  readonly backoffMs: number
  readonly timestamp: number
  state: JobState
  attemptsMade: number
  stalls: number
  failedReason: string | null
  finishedOn: number | null
  timer: NodeJS.Timeout | null
  /** bumped each time the job is handed to a processor: an outcome of an older run is ignored */
  run: number
}

/** A FIFO of entries, O(1) at both ends; removed entries are skipped when they reach the head. */
class Fifo<T> {
  private items: (T | undefined)[] = []
  private head = 0

  push(item: T): void {
    this.items.push(item)
  }

  /** the first item `keep` accepts, dropping the ones before it that it refuses */
  peek(keep: (item: T) => boolean): T | undefined {
    while (this.head < this.items.length) {
      const item = this.items[this.head] as T
      if (keep(item)) return item
      this.items[this.head++] = undefined
    }
    this.compact()
    return undefined
  }

  shift(): void {
    if (this.head < this.items.length) this.items[this.head++] = undefined
    this.compact()
  }

  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}

class TokenBucket {
  private tokens: number
  private updatedAt: number
  private readonly perMs: number

  constructor(
    readonly max: number,
    readonly durationMs: number,
    now: number,
  ) {
    this.tokens = max
    this.updatedAt = now
    this.perMs = max / durationMs
  }

  private refill(now: number): void {
    if (now > this.updatedAt) {
      this.tokens = Math.min(this.max, this.tokens + (now - this.updatedAt) * this.perMs)
      this.updatedAt = now
    }
  }

  /** takes a token when there is one; otherwise answers how long until there is */
  take(now: number): { taken: true } | { taken: false; waitMs: number } {
    this.refill(now)
    if (this.tokens >= 1) {
      this.tokens -= 1
      return { taken: true }
    }
    return { taken: false, waitMs: Math.max(1, Math.ceil((1 - this.tokens) / this.perMs)) }
  }
}

class InProcessWorker<Data> implements QueueWorker {
  /** job id → the run this worker is processing */
  readonly active = new Map<string, { entry: Entry<Data>; run: number; done: Promise<void> }>()
  closing = false
  /** closed with force: every outcome still to come is ignored */
  crashed = false
  private closed: Promise<void> | undefined

  constructor(
    private readonly queue: InProcessQueue<Data>,
    private readonly processor: JobProcessor<Data>,
    readonly concurrency: number,
  ) {}

  get hasRoom(): boolean {
    return !this.closing && this.active.size < this.concurrency
  }

  start(entry: Entry<Data>): void {
    const run = ++entry.run
    entry.state = 'active'
    const job = { id: entry.id, data: entry.data, attempt: entry.attemptsMade + 1 }
    // the processor starts on a later tick: never inside add() or another job's settlement
    const done = Promise.resolve()
      .then(() => this.processor(job))
      .then(
        () => this.settle(entry, run, null),
        (error: unknown) => this.settle(entry, run, error === null ? new Error('null thrown') : error),
      )
    this.active.set(entry.id, { entry, run, done })
  }

  private settle(entry: Entry<Data>, run: number, error: unknown): void {
    const mine = this.active.get(entry.id)
    if (mine && mine.run === run) this.active.delete(entry.id)
    if (this.crashed || entry.run !== run || entry.state !== 'active') return
    this.queue.finish(entry, error)
  }

  close(options: CloseWorkerOptions = {}): Promise<void> {
    if (options.force && !this.crashed) {
      this.crashed = true
      this.closing = true
      const abandoned = [...this.active.values()]
      this.active.clear()
      this.queue.detach(this)
      for (const { entry, run } of abandoned) this.queue.takeBack(entry, run)
      this.closed = Promise.resolve()
      return this.closed
    }
    this.closing = true
    this.closed ??= (async () => {
      while (this.active.size > 0) await Promise.all([...this.active.values()].map((a) => a.done))
      this.queue.detach(this)
    })()
    return this.closed
  }
}

class InProcessQueue<Data> implements JobQueue<Data> {
  private readonly jobs = new Map<string, Entry<Data>>()
  private readonly waiting = new Fifo<Entry<Data>>()
  private readonly workers: InProcessWorker<Data>[] = []
  private nextWorker = 0
  private completed = 0
  private limiter: TokenBucket | null = null
  private limiterTimer: NodeJS.Timeout | null = null
  private pumping = false
  closed = false

  constructor(
    readonly name: string,
    private readonly options: Required<InProcessQueueOptions>,
  ) {}

  async add(jobs: readonly NewJob<Data>[]): Promise<void> {
    const batch = resolveBatch(this.name, jobs)
    if (this.closed) throw new Error(`queue ${this.name} is closed`)
    const now = this.options.now()
    for (const { data, options } of batch) {
      if (this.jobs.has(options.jobId)) continue
      const entry: Entry<Data> = {
        id: options.jobId,
        data,
        attempts: options.attempts,
        backoffMs: options.backoffMs,
        timestamp: now,
        state: 'waiting',
        attemptsMade: 0,
        stalls: 0,
        failedReason: null,
        finishedOn: null,
        timer: null,
        run: 0,
      }
      this.jobs.set(entry.id, entry)
      this.schedule(entry, options.delayMs, false)
    }
    this.pump()
  }

  async remove(jobId: string): Promise<boolean> {
    const entry = this.jobs.get(jobId)
    if (!entry || entry.state === 'active') return false
    this.drop(entry)
    return true
  }

  async failed(limit = DEFAULT_FAILED_LIMIT): Promise<JobInfo<Data>[]> {
    return [...this.jobs.values()]
      .filter((entry) => entry.state === 'failed')
      .sort((a, b) => (b.finishedOn ?? 0) - (a.finishedOn ?? 0))
      .slice(0, Math.max(0, limit))
      .map((entry) => ({
        id: entry.id,
        queue: this.name,
        data: entry.data,
        attemptsMade: entry.attemptsMade,
        failedReason: entry.failedReason,
        timestamp: entry.timestamp,
        finishedOn: entry.finishedOn,
      }))
  }

  async retry(jobId: string): Promise<boolean> {
    const entry = this.jobs.get(jobId)
    if (!entry || entry.state !== 'failed') return false
    if (this.closed) throw new Error(`queue ${this.name} is closed`)
    // an operator's retry gives the job its full number of tries again
    entry.attemptsMade = 0
    entry.stalls = 0
    entry.failedReason = null
    entry.finishedOn = null
    this.schedule(entry, 0)
    return true
  }

  async counts(): Promise<QueueCounts> {
    const counts: QueueCounts = { waiting: 0, active: 0, delayed: 0, failed: 0, completed: this.completed }
    for (const entry of this.jobs.values()) {
      if (entry.state !== 'gone') counts[entry.state] += 1
    }
    return counts
  }

  attach(worker: InProcessWorker<Data>, rateLimit: WorkerOptions['rateLimit']): void {
    if (this.closed) throw new Error(`queue ${this.name} is closed`)
    // one limit per queue, shared by its workers; a worker that names another one replaces it
    if (rateLimit && (this.limiter?.max !== rateLimit.max || this.limiter.durationMs !== rateLimit.durationMs)) {
      this.limiter = new TokenBucket(rateLimit.max, rateLimit.durationMs, this.options.now())
    }
    this.workers.push(worker)
    this.pump()
  }

  detach(worker: InProcessWorker<Data>): void {
    const index = this.workers.indexOf(worker)
    if (index >= 0) this.workers.splice(index, 1)
  }

  /** A processor's outcome: done, retried after a backoff, delayed, or failed. */
  finish(entry: Entry<Data>, error: unknown): void {
    if (error === null) {
      this.jobs.delete(entry.id)
      entry.state = 'gone'
      this.completed += 1
    } else if (error instanceof JobDelayed) {
      // no attempt used: a paused campaign's send waits and comes back
      this.schedule(entry, Math.max(0, error.delayMs), false)
    } else {
      entry.attemptsMade += 1
      if (error instanceof JobUnrecoverable || entry.attemptsMade >= entry.attempts) {
        this.fail(entry, asError(error).message)
      } else {
        this.schedule(entry, backoffDelay(entry.backoffMs, entry.attemptsMade), false)
      }
    }
    this.pump()
  }

  /** A job abandoned by a worker closed with force: back to waiting, as a stalled job. */
  takeBack(entry: Entry<Data>, run: number): void {
    if (entry.run !== run || entry.state !== 'active' || this.jobs.get(entry.id) !== entry) return
    entry.stalls += 1
    if (entry.stalls > this.options.maxStalledCount) this.fail(entry, 'job stalled more than allowable limit')
    else this.schedule(entry, 0, false)
    this.pump()
  }

  close(): void {
    this.closed = true
    if (this.limiterTimer) clearTimeout(this.limiterTimer)
    this.limiterTimer = null
    for (const entry of this.jobs.values()) {
      if (entry.timer) clearTimeout(entry.timer)
      entry.timer = null
    }
  }

  private fail(entry: Entry<Data>, reason: string): void {
    entry.state = 'failed'
    entry.failedReason = reason
    entry.finishedOn = this.options.now()
  }

  private drop(entry: Entry<Data>): void {
    if (entry.timer) clearTimeout(entry.timer)
    entry.timer = null
    entry.state = 'gone'
    this.jobs.delete(entry.id)
  }

  /** to waiting now, or to delayed until `delayMs` has passed */
  private schedule(entry: Entry<Data>, delayMs: number, pump = true): void {
    if (entry.timer) clearTimeout(entry.timer)
    entry.timer = null
    if (delayMs > 0 && !this.closed) {
      entry.state = 'delayed'
      entry.timer = setTimeout(() => {
        entry.timer = null
        if (entry.state === 'delayed' && this.jobs.get(entry.id) === entry) this.schedule(entry, 0)
      }, delayMs)
      entry.timer.unref()
      return
    }
    entry.state = 'waiting'
    this.waiting.push(entry)
    if (pump) this.pump()
  }

  /** Hands waiting jobs to workers with room, as far as the rate limit allows. */
  private pump(): void {
    if (this.pumping || this.closed) return
    this.pumping = true
    try {
      for (;;) {
        const worker = this.workerWithRoom()
        if (!worker) return
        const entry = this.waiting.peek((candidate) => candidate.state === 'waiting' && this.jobs.get(candidate.id) === candidate)
        if (!entry) return
        if (this.limiter) {
          const token = this.limiter.take(this.options.now())
          if (!token.taken) {
            this.wakeAfter(token.waitMs)
            return
          }
        }
        this.waiting.shift()
        worker.start(entry)
      }
    } finally {
      this.pumping = false
    }
  }

  private wakeAfter(ms: number): void {
    if (this.limiterTimer) return
    this.limiterTimer = setTimeout(() => {
      this.limiterTimer = null
      this.pump()
    }, ms)
    this.limiterTimer.unref()
  }

  /** round robin over the workers that can take one more job */
  private workerWithRoom(): InProcessWorker<Data> | undefined {
    for (let i = 0; i < this.workers.length; i += 1) {
      const index = (this.nextWorker + i) % this.workers.length
      const worker = this.workers[index]!
      if (worker.hasRoom) {
        this.nextWorker = (index + 1) % this.workers.length
        return worker
      }
    }
    return undefined
  }
}

export class InProcessQueueSystem implements QueueSystem {
  readonly kind = 'in-process' as const
  private readonly queues = new Map<string, InProcessQueue<unknown>>()
  private readonly workers = new Set<InProcessWorker<unknown>>()
  private readonly options: Required<InProcessQueueOptions>
  private closing: Promise<void> | undefined

  constructor(options: InProcessQueueOptions = {}) {
    this.options = { maxStalledCount: options.maxStalledCount ?? 2, now: options.now ?? Date.now }
  }

  queue<Data>(name: string): JobQueue<Data> {
    return this.queueNamed<Data>(name)
  }

  work<Data>(name: string, processor: JobProcessor<Data>, options: WorkerOptions): QueueWorker {
    checkWorkerOptions(name, options)
    if (this.closing) throw new Error('the queue system is closed')
    const queue = this.queueNamed<Data>(name)
    const worker = new InProcessWorker<Data>(queue, processor, options.concurrency)
    const tracked = worker as unknown as InProcessWorker<unknown>
    this.workers.add(tracked)
    queue.attach(worker, options.rateLimit)
    return {
      close: async (closeOptions?: CloseWorkerOptions) => {
        try {
          await worker.close(closeOptions)
        } finally {
          this.workers.delete(tracked)
        }
      },
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // workers first: they stop taking jobs and finish their active ones
      await Promise.all([...this.workers].map((worker) => worker.close()))
      this.workers.clear()
      for (const queue of this.queues.values()) queue.close()
    })()
    return this.closing
  }

  private queueNamed<Data>(name: string): InProcessQueue<Data> {
    let queue = this.queues.get(name)
    if (!queue) {
      checkQueueName(name)
      queue = new InProcessQueue<unknown>(name, this.options)
      this.queues.set(name, queue)
    }
    return queue as InProcessQueue<Data>
  }
}
