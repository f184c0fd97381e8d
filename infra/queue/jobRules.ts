import { isValidJobId, type JobOptions, type NewJob, type WorkerOptions } from './jobQueue.ts'

/**
 * What both queue adapters check and default the same way: job ids, tries, backoff, worker
 * options. An invalid argument is a programming error, refused before anything is enqueued.
 */

export const DEFAULT_ATTEMPTS = 5
export const DEFAULT_BACKOFF_MS = 1000
/** failed(limit) without a limit */
export const DEFAULT_FAILED_LIMIT = 100

export class InvalidJob extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidJob'
  }
}

/** The options of one job with their defaults applied. */
export interface ResolvedJobOptions {
  jobId: string
  delayMs: number
  attempts: number
  backoffMs: number
}

export function resolveJobOptions(queue: string, options: JobOptions): ResolvedJobOptions {
  const { jobId } = options
  if (typeof jobId !== 'string' || !isValidJobId(jobId)) {
    throw new InvalidJob(
      `queue ${queue}: job id ${JSON.stringify(jobId)} is not valid: a job id is 1 to 200 characters without ':' (BullMQ refuses ':' in ids)`,
    )
  }
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS
  if (!Number.isInteger(attempts) || attempts < 1) throw new InvalidJob(`queue ${queue}: job ${jobId}: attempts must be an integer of at least 1, got ${attempts}`)
  const backoffMs = options.backoffMs ?? DEFAULT_BACKOFF_MS
  if (!Number.isFinite(backoffMs) || backoffMs < 0) throw new InvalidJob(`queue ${queue}: job ${jobId}: backoffMs must be a non-negative number, got ${backoffMs}`)
  const delayMs = options.delayMs ?? 0
  if (!Number.isFinite(delayMs)) throw new InvalidJob(`queue ${queue}: job ${jobId}: delayMs must be a number, got ${delayMs}`)
  return { jobId, delayMs: Math.max(0, Math.round(delayMs)), attempts, backoffMs: Math.round(backoffMs) }
}

/** Every job of a batch checked before any is enqueued: a bad one refuses the whole batch. */
export function resolveBatch<Data>(queue: string, jobs: readonly NewJob<Data>[]): { data: Data; options: ResolvedJobOptions }[] {
  return jobs.map((job) => ({ data: job.data, options: resolveJobOptions(queue, job.options) }))
}

/** Queue names become part of Redis keys: BullMQ refuses ':' in them. */
export function checkQueueName(name: string): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 100 || name.includes(':')) {
    throw new InvalidJob(`queue name ${JSON.stringify(name)} is not valid: 1 to 100 characters without ':'`)
  }
}

export function checkWorkerOptions(queue: string, options: WorkerOptions): void {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new InvalidJob(`queue ${queue}: worker concurrency must be an integer of at least 1, got ${options.concurrency}`)
  }
  const limit = options.rateLimit
  if (limit && (!Number.isInteger(limit.max) || limit.max < 1 || !Number.isFinite(limit.durationMs) || limit.durationMs < 1)) {
    throw new InvalidJob(`queue ${queue}: rateLimit needs an integer max of at least 1 and a durationMs of at least 1, got ${JSON.stringify(limit)}`)
  }
}

/** The pause before retry number `failures` (1 after the first failure): backoff, doubling. */
export function backoffDelay(backoffMs: number, failures: number): number {
  return Math.round(backoffMs * 2 ** Math.max(0, failures - 1))
}

/** A processor may throw anything; queues keep an Error's message. */
export function asError(thrown: unknown): Error {
  return thrown instanceof Error ? thrown : new Error(typeof thrown === 'string' ? thrown : `non-error thrown: ${String(thrown)}`)
}
