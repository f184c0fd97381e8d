/**
 * The job queue port. Two adapters implement it: BullMQ on Redis (REDIS_URL), and an in-process
 * one for the embedded default that runs the same processors with the same semantics (minus
 * surviving a restart: the service re-enqueues outstanding work from its read models at start).
 *
 * Semantics every adapter keeps:
 * - A job's id is chosen by the caller and is deterministic (no `:`); adding a job whose id is
 *   waiting, delayed or active is a no-op, so retries and restarts never enqueue twice. So is
 *   adding one kept as failed (until it is retried or removed); a completed job is not kept, so
 *   its id can be added again once it has finished.
 * - A processor that throws is retried with exponential backoff up to `attempts`; after the last
 *   attempt the job is kept as failed, with its error, until an operator retries or removes it.
 * - `JobDelayed` from a processor re-schedules the job after `delayMs` without using an attempt
 *   (a paused campaign); `JobUnrecoverable` fails it at once without retrying.
 * - A job is processed by one worker at a time; a job whose worker died is processed again
 *   (at-least-once): processors must be idempotent.
 * - Payloads carry ids, never secrets.
 */
export interface JobOptions {
  jobId: string
  delayMs?: number
  /** total tries, the first included (default 5) */
  attempts?: number
  /** first retry after this, doubling each time (default 1000) */
  backoffMs?: number
}

export interface NewJob<Data> {
  data: Data
  options: JobOptions
}

export interface JobInfo<Data = unknown> {
  id: string
  queue: string
  data: Data
  attemptsMade: number
  failedReason: string | null
  /** when it was added, failed or finished, in ms since the epoch */
  timestamp: number
  finishedOn: number | null
}

export interface QueueCounts {
  waiting: number
  active: number
  delayed: number
  failed: number
  /**
   * jobs completed so far (a running total: completed jobs are not kept, so that a finished job
   * never blocks adding its id again)
   */
  completed: number
}

export interface JobQueue<Data> {
  readonly name: string
  add(jobs: readonly NewJob<Data>[]): Promise<void>
  /**
   * removes a waiting or delayed job (a rescheduled start), or a failed one (an operator's
   * clean-up); false when there was none (an active job is not removed)
   */
  remove(jobId: string): Promise<boolean>
  /** jobs that failed after their last attempt, newest first */
  failed(limit?: number): Promise<JobInfo<Data>[]>
  /** puts a failed job back to work; false when no failed job has that id */
  retry(jobId: string): Promise<boolean>
  counts(): Promise<QueueCounts>
}

export interface RunningJob<Data> {
  id: string
  data: Data
  /** 1 for the first try */
  attempt: number
}

export type JobProcessor<Data> = (job: RunningJob<Data>) => Promise<void>

export interface WorkerOptions {
  concurrency: number
  /** at most `max` jobs per `durationMs` across all workers of the queue (a provider's throughput) */
  rateLimit?: { max: number; durationMs: number }
}

export interface CloseWorkerOptions {
  /**
   * Stop at once, as a crash would: active jobs are abandoned (their processors are not awaited
   * and their outcomes are dropped) and processed again by another worker — at once in process,
   * after the job's lock expires on BullMQ. For crash tests, and a process that must exit now.
   */
  force?: boolean
}

export interface QueueWorker {
  /** stop taking jobs and wait for the active ones to finish (see `force`) */
  close(options?: CloseWorkerOptions): Promise<void>
}

export interface QueueSystem {
  readonly kind: 'bullmq' | 'in-process'
  queue<Data>(name: string): JobQueue<Data>
  work<Data>(name: string, processor: JobProcessor<Data>, options: WorkerOptions): QueueWorker
  /** closes workers gracefully (active jobs finish), then the queues and connections */
  close(): Promise<void>
}

/** Thrown by a processor: run this job again after `delayMs`, without using an attempt. */
export class JobDelayed extends Error {
  readonly delayMs: number

  constructor(delayMs: number, reason = 'delayed') {
    super(reason)
    this.name = 'JobDelayed'
    this.delayMs = delayMs
  }
}

/** Thrown by a processor: this job can never succeed; fail it now without retrying. */
export class JobUnrecoverable extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'JobUnrecoverable'
  }
}

export const isValidJobId = (id: string): boolean => id.length > 0 && id.length <= 200 && !id.includes(':')
