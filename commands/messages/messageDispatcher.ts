import type { RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import type { JobQueue, NewJob } from '../../infra/queue/jobQueue.ts'
import type { MessageEvent } from './messageEvents.ts'
import { sendJobId, type SendJob } from './sendJobs.ts'

type Queued = Extract<MessageEvent, { type: 'outboundMessageQueued' }>

export interface DispatchOptions {
  queue: JobQueue<SendJob>
  /** tries of one send, the first included */
  attempts: number
  /** first pause between tries, doubling */
  backoffMs: number
}

/** The send job of one message: its id follows from the message id, so adding it twice is a no-op. */
export function sendJobOf(options: Pick<DispatchOptions, 'attempts' | 'backoffMs'>, messageId: string, tenantId: string): NewJob<SendJob> {
  return { data: { messageId, tenantId }, options: { jobId: sendJobId(messageId), attempts: options.attempts, backoffMs: options.backoffMs } }
}

/**
 * The message dispatcher: a reactor that turns every queued outbound message — from a
 * conversation, a campaign or POST /sms/send alike — into a send job, one bulk add per batch of
 * events. It sees each event at least once; the job id (`send-<message id>`) makes a repeat a
 * no-op while the first job is pending, and the send processor's status check makes a repeat after
 * it finished harmless.
 */
export function messageDispatcher(options: DispatchOptions) {
  return {
    kind: 'reactor' as const,
    name: 'message_dispatcher',
    version: 1,
    eventTypes: ['outboundMessageQueued'] as const,
    async handle(events: readonly RecordedEvent[]): Promise<void> {
      const jobs = events.map((recorded) => {
        const { messageId, tenantId } = (recorded as unknown as Queued).data
        return sendJobOf(options, messageId, tenantId)
      })
      if (jobs.length > 0) await options.queue.add(jobs)
    },
  }
}

/** A page of messages still queued, in log order after `afterPosition` (the message history's answer). */
export type QueuedMessagePage = (afterPosition: number, limit: number) => Promise<{ messageId: string; tenantId: string; position: number }[]>

/**
 * Adds a send job for every message still queued, page by page: at start-up, work an in-process
 * queue lost with the previous process resumes (on Redis the jobs survived and these adds are
 * no-ops). Stops early when `stopped()` says so. Answers how many messages it looked at.
 */
export async function requeueQueuedMessages(
  options: DispatchOptions & { pages: QueuedMessagePage; pageSize?: number; stopped?: () => boolean },
): Promise<number> {
  const pageSize = options.pageSize ?? 500
  let after = 0
  let seen = 0
  for (;;) {
    if (options.stopped?.()) return seen
    const page = await options.pages(after, pageSize)
    if (page.length === 0) return seen
    await options.queue.add(page.map((message) => sendJobOf(options, message.messageId, message.tenantId)))
    seen += page.length
    after = page.at(-1)!.position
    if (page.length < pageSize) return seen
  }
}
