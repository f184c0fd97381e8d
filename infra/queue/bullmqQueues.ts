import { DelayedError, Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq'
import { Redis } from 'ioredis'
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
import { asError, checkQueueName, checkWorkerOptions, DEFAULT_FAILED_LIMIT, resolveBatch, type ResolvedJobOptions } from './jobRules.ts'

/**
 * The job queue port on BullMQ (Redis).
 *
 * Connections, as BullMQ's production guide asks:
 * - one connection shared by every Queue (the producer side: add, remove, retry, counts). It
 *   fails fast (no offline queue, few retries per request) so that an HTTP command adding a job
 *   while Redis is down gets an error instead of hanging;
 * - workers use connections of their own with `maxRetriesPerRequest: null` (they block on Redis
 *   and must survive reconnections): one command connection shared by the workers, and a blocking
 *   connection per worker, which BullMQ duplicates from it;
 * - close(): workers first (they finish their active jobs), then queues, then our connections.
 *
 * Job lifecycle choices:
 * - Job ids are the caller's. BullMQ refuses ids that look like integers ("42"): those, and ids
 *   that start with '#', are stored with one '#' in front, removed again when read back.
 * - removeOnComplete: true. A completed job is deleted at once, so it never blocks adding the
 *   same id again once it has finished (BullMQ would otherwise treat a kept completed job as a
 *   duplicate). Adding an id that is waiting, delayed, active or failed stays a no-op (BullMQ
 *   keeps those jobs). counts().completed comes from BullMQ's completed-jobs metric, a running
 *   total, since completed jobs are not kept.
 * - removeOnFail: false. Jobs failed after their last attempt are kept, with their error, until
 *   retry() or remove().
 * - Backoff: BullMQ's exponential backoff (backoffMs, doubling).
 * - JobDelayed: the job is moved to delayed with job.moveToDelayed (which does not count an
 *   attempt) and BullMQ's DelayedError tells the worker it was moved. JobUnrecoverable becomes
 *   BullMQ's UnrecoverableError: failed without retrying.
 * - A worker that dies (or is closed with force) stops renewing its jobs' locks: after
 *   `lockDurationMs` they are stalled, and another worker's stalled check (every
 *   `stalledIntervalMs`) puts them back to waiting. A job may stall `maxStalledCount` times; after
 *   that it fails (kept, retryable), which stops a job that crashes its workers from looping.
 */

export interface BullMqQueueOptions {
  redisUrl: string
  /** prefix of every Redis key (default 'mifumo'); tests use a random one to isolate themselves */
  prefix?: string
  /** a job's lock; a dead worker's jobs are taken back after it expires (default 30,000) */
  lockDurationMs?: number
  /** how often workers look for stalled jobs (default 30,000) */
  stalledIntervalMs?: number
  /** times a job may be taken back from a dead worker before it fails (default 2) */
  maxStalledCount?: number
  /** connection and worker errors (default: written to stderr) */
  onError?: (error: Error, context: { queue: string | null; source: 'queue' | 'worker' | 'connection' }) => void
}

export const DEFAULT_PREFIX = 'mifumo'

/** BullMQ refuses integer-looking ids; ids are stored with a '#' in front when they look like one. */
export function toBullJobId(id: string): string {
  return id.startsWith('#') || `${Number.parseInt(id, 10)}` === id ? `#${id}` : id
}

export function fromBullJobId(id: string): string {
  return id.startsWith('#') ? id.slice(1) : id
}

function bullJobOptions(options: ResolvedJobOptions): JobsOptions {
  return {
    jobId: toBullJobId(options.jobId),
    delay: options.delayMs,
    attempts: options.attempts,
    backoff: { type: 'exponential', delay: options.backoffMs },
    removeOnComplete: true,
    removeOnFail: false,
  }
}

/** jobs per addBulk call: one MULTI each, so a 10,000-recipient fan-out is not one huge transaction */
const ADD_CHUNK = 500

class BullMqJobQueue<Data> implements JobQueue<Data> {
  constructor(
    readonly name: string,
    private readonly queue: Queue,
  ) {}

  async add(jobs: readonly NewJob<Data>[]): Promise<void> {
    const batch = resolveBatch(this.name, jobs)
    for (let start = 0; start < batch.length; start += ADD_CHUNK) {
      const chunk = batch.slice(start, start + ADD_CHUNK)
      await this.queue.addBulk(chunk.map(({ data, options }) => ({ name: this.name, data, opts: bullJobOptions(options) })))
    }
  }

  async remove(jobId: string): Promise<boolean> {
    const id = toBullJobId(jobId)
    // BullMQ answers 1 for an id it does not know: look first. An active job is locked: 0.
    const state = await this.queue.getJobState(id)
    if (state === 'unknown' || state === 'active') return false
    return (await this.queue.remove(id)) === 1
  }

  async failed(limit = DEFAULT_FAILED_LIMIT): Promise<JobInfo<Data>[]> {
    if (limit <= 0) return []
    const jobs = await this.queue.getFailed(0, limit - 1)
    return jobs.map((job) => ({
      id: fromBullJobId(job.id ?? ''),
      queue: this.name,
      data: job.data as Data,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason ?? null,
      timestamp: job.timestamp,
      finishedOn: job.finishedOn ?? null,
    }))
  }

  async retry(jobId: string): Promise<boolean> {
    const job = await this.queue.getJob(toBullJobId(jobId))
    if (!job || (await job.getState()) !== 'failed') return false
    try {
      // an operator's retry gives the job its full number of tries again
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
      return true
    } catch (error) {
      // retried or removed by someone else in between
      if ((await job.getState().catch(() => 'unknown')) !== 'failed') return false
      throw error
    }
  }

  async counts(): Promise<QueueCounts> {
    const [counts, completed] = await Promise.all([
      this.queue.getJobCounts('waiting', 'prioritized', 'active', 'delayed', 'failed'),
      this.queue.getMetrics('completed', 0, 0),
    ])
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
      completed: completed.meta.count,
    }
  }
}

export class BullMqQueueSystem implements QueueSystem {
  readonly kind = 'bullmq' as const
  readonly prefix: string
  private readonly queues = new Map<string, { port: BullMqJobQueue<unknown>; queue: Queue }>()
  private readonly workers = new Set<Worker>()
  private readonly producer: Redis
  private readonly workerConnection: Redis
  private readonly onError: NonNullable<BullMqQueueOptions['onError']>
  private closing: Promise<void> | undefined

  private constructor(private readonly options: BullMqQueueOptions) {
    this.prefix = options.prefix ?? DEFAULT_PREFIX
    if (this.prefix.length === 0 || this.prefix.includes(':')) throw new Error(`queue key prefix ${JSON.stringify(this.prefix)} must be non-empty and without ':'`)
    this.onError =
      options.onError ??
      ((error, context) => process.stderr.write(`queue ${context.source}${context.queue ? ` ${context.queue}` : ''}: ${error.message}\n`))
    this.producer = new Redis(options.redisUrl, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 3,
      connectionName: `${this.prefix}-queues`,
    })
    this.producer.on('error', (error: Error) => this.onError(error, { queue: null, source: 'connection' }))
    // connected by BullMQ when the first worker starts; each worker duplicates it for blocking
    this.workerConnection = new Redis(options.redisUrl, { lazyConnect: true, maxRetriesPerRequest: null, connectionName: `${this.prefix}-workers` })
    this.workerConnection.on('error', (error: Error) => this.onError(error, { queue: null, source: 'connection' }))
  }

  /** Connects to Redis (a wrong REDIS_URL fails here, at start) and answers the system. */
  static async open(options: BullMqQueueOptions): Promise<BullMqQueueSystem> {
    const system = new BullMqQueueSystem(options)
    try {
      await system.producer.connect()
      await system.producer.ping()
    } catch (error) {
      system.producer.disconnect()
      throw new Error(`cannot reach Redis for the job queues: ${(error as Error).message}`)
    }
    return system
  }

  queue<Data>(name: string): JobQueue<Data> {
    return this.queueNamed(name).port as JobQueue<Data>
  }

  work<Data>(name: string, processor: JobProcessor<Data>, options: WorkerOptions): QueueWorker {
    checkQueueName(name)
    checkWorkerOptions(name, options)
    if (this.closing) throw new Error('the queue system is closed')
    const worker = new Worker(
      name,
      async (job: Job, token?: string) => {
        try {
          await processor({ id: fromBullJobId(job.id ?? ''), data: job.data as Data, attempt: job.attemptsMade + 1 })
        } catch (thrown) {
          if (thrown instanceof JobDelayed) {
            // moveToDelayed does not count an attempt; DelayedError tells the worker the job moved
            await job.moveToDelayed(Date.now() + Math.max(0, thrown.delayMs), token)
            throw new DelayedError(thrown.message)
          }
          if (thrown instanceof JobUnrecoverable) throw new UnrecoverableError(thrown.message)
          throw asError(thrown)
        }
      },
      {
        connection: this.workerConnection,
        prefix: this.prefix,
        concurrency: options.concurrency,
        ...(options.rateLimit ? { limiter: { max: options.rateLimit.max, duration: options.rateLimit.durationMs } } : {}),
        lockDuration: this.options.lockDurationMs ?? 30_000,
        stalledInterval: this.options.stalledIntervalMs ?? 30_000,
        maxStalledCount: this.options.maxStalledCount ?? 2,
        // counts().completed: the completed metric keeps a running total
        metrics: { maxDataPoints: 60 },
      },
    )
    worker.on('error', (error: Error) => this.onError(error, { queue: name, source: 'worker' }))
    this.workers.add(worker)
    return {
      close: async (closeOptions: CloseWorkerOptions = {}) => {
        try {
          await worker.close(closeOptions.force === true)
        } finally {
          this.workers.delete(worker)
        }
      },
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // workers first: they stop taking jobs and finish the active ones
      await Promise.allSettled([...this.workers].map((worker) => worker.close()))
      this.workers.clear()
      await Promise.allSettled([...this.queues.values()].map(({ queue }) => queue.close()))
      this.queues.clear()
      for (const connection of [this.producer, this.workerConnection]) {
        if (connection.status === 'ready') await connection.quit().catch(() => connection.disconnect())
        else connection.disconnect()
      }
    })()
    return this.closing
  }

  private queueNamed(name: string): { port: BullMqJobQueue<unknown>; queue: Queue } {
    let entry = this.queues.get(name)
    if (!entry) {
      checkQueueName(name)
      if (this.closing) throw new Error('the queue system is closed')
      const queue = new Queue(name, { connection: this.producer, prefix: this.prefix })
      queue.on('error', (error: Error) => this.onError(error, { queue: name, source: 'queue' }))
      entry = { port: new BullMqJobQueue<unknown>(name, queue), queue }
      this.queues.set(name, entry)
    }
    return entry
  }
}
