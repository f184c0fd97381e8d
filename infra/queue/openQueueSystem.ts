import { BullMqQueueSystem, type BullMqQueueOptions } from './bullmqQueues.ts'
import { InProcessQueueSystem } from './inProcessQueues.ts'
import type { QueueSystem } from './jobQueue.ts'

export interface OpenQueueSystemOptions extends Partial<Omit<BullMqQueueOptions, 'redisUrl'>> {
  /** Redis for BullMQ; unset (or empty) means the in-process queues of the embedded default */
  redisUrl: string | null | undefined
}

/**
 * The queue system the configuration asks for: BullMQ when a Redis URL is given (connected and
 * checked before this answers), in-process queues otherwise.
 */
export async function openQueueSystem(options: OpenQueueSystemOptions): Promise<QueueSystem> {
  const { redisUrl, ...rest } = options
  if (!redisUrl) return new InProcessQueueSystem(rest.maxStalledCount === undefined ? {} : { maxStalledCount: rest.maxStalledCount })
  return BullMqQueueSystem.open({ ...rest, redisUrl })
}
