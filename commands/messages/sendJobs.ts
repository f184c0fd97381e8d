/**
 * The send queue's contract: one job per outbound message, id `send-<messageId>`, processed by
 * the send processor (messageSending.ts). The dispatcher adds them; ops tools list, retry and
 * remove them by this name.
 */
export const sendQueueName = 'send'

/** The payload of a send job: ids only (the processor loads the message itself). */
export interface SendJob {
  messageId: string
  tenantId: string
}

/** Deterministic: adding the job of a message twice is a no-op while the first is pending. */
export const sendJobId = (messageId: string): string => `send-${messageId}`
