import type { Clock } from '../../infra/clock.ts'
import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { JobDelayed, type RunningJob } from '../../infra/queue/jobQueue.ts'
import type { SmsProvider } from '../../infra/sms/smsProvider.ts'
import { systemJobContext } from '../commandContext.ts'
import { loadAggregate } from '../commandExecution.ts'
import { loadContactSnapshot } from '../conversations/contactSnapshot.ts'
import { cancelQueuedMessage, messageStream, recordMessageStatusAfterLoad } from './messageCommands.ts'
import { messageDecider, type OutboundMessage } from './messageDecider.ts'
import { coalescedStreamReads } from './coalescedStreamReads.ts'
import type { SendJob } from './sendJobs.ts'

/** What a campaign allows its queued message to do now. */
export type CampaignSendDecision =
  /** running: send it */
  | { action: 'send' }
  /** paused: look again after `retryInMs` */
  | { action: 'wait'; retryInMs: number }
  /** cancelled, completed or gone: it will never be sent */
  | { action: 'cancel'; reason: string }

/** The send processor asks the campaign (a port the campaigns module implements). */
export type CampaignGate = (tenantId: string, campaignId: string) => Promise<CampaignSendDecision>

export interface SendLog {
  warn(object: object, message: string): void
}

export interface MessageSendingDeps {
  store: EventStore
  provider: SmsProvider
  clock: Clock
  /** the sender id messages go out with */
  senderId: string | null
  campaignGate: CampaignGate
  log?: SendLog
}

/** What one run of the send processor did. */
export type SendOutcome =
  /** the provider accepted it: messageSent recorded (or found recorded by a delivery report) */
  | 'sent'
  /** the provider refused it for good: messageFailed */
  | 'rejected'
  /** not sent and never will be: messageCancelled */
  | 'cancelled'
  /** nothing to do: it is not queued any more (an earlier run, or a repeat of the job) */
  | 'skipped'

/** INVALID_STATUS: the message moved on meanwhile (a delivery report, a cancellation). */
const movedOn = (error: unknown): boolean => error instanceof BusinessRuleViolation && error.errorCode === 'INVALID_STATUS'

/**
 * Sends one queued message, idempotently:
 * 1. the message is loaded; not queued any more → nothing to do (so a repeated job never sends
 *    twice, and the provider's idempotency key — our message id — covers a crash between the
 *    provider's answer and our record of it);
 * 2. its contact opted out or was deleted since it was queued → messageCancelled;
 * 3. a campaign message asks its campaign: paused → JobDelayed (the job comes back later; resume
 *    lets it through), cancelled or completed → messageCancelled;
 * 4. the provider: accepted → messageSent with its id, rejected → messageFailed with its reason;
 *    ProviderUnavailable (or any other error) is thrown: the queue retries with backoff and,
 *    after the last try, keeps the job failed for ops while the message stays queued.
 */
export async function sendQueuedMessage(deps: MessageSendingDeps, job: SendJob): Promise<SendOutcome> {
  const { store, clock } = deps
  const loaded = await loadAggregate(store, messageStream(job.messageId), messageDecider)
  const { state } = loaded
  if (state.status === 'absent' || state.direction !== 'outbound' || state.tenantId !== job.tenantId) return 'skipped'
  if (state.status !== 'queued') return 'skipped'
  const message: OutboundMessage = state

  const cancel = async (reason: string): Promise<SendOutcome> => {
    try {
      await cancelQueuedMessage(store, systemJobContext(message.tenantId, clock.now()), message.messageId, reason)
      return 'cancelled'
    } catch (error) {
      if (movedOn(error)) return 'skipped'
      throw error
    }
  }

  // the contact and the campaign are asked together; the contact's answer comes first
  const [refusal, decision] = await Promise.all([
    contactRefusal(store, message),
    message.campaignId ? deps.campaignGate(message.tenantId, message.campaignId) : Promise.resolve<CampaignSendDecision>({ action: 'send' }),
  ])
  if (refusal) return cancel(refusal)
  if (!message.to) return cancel('Contact has no phone number')
  if (decision.action === 'wait') throw new JobDelayed(decision.retryInMs, 'campaign paused')
  if (decision.action === 'cancel') return cancel(decision.reason)

  const result = await deps.provider.send({
    messageId: message.messageId,
    tenantId: message.tenantId,
    to: message.to,
    senderId: message.senderId ?? deps.senderId,
    channel: message.channel,
    text: message.content,
  })
  const context = systemJobContext(message.tenantId, clock.now())
  try {
    if (result.status === 'accepted') {
      await recordMessageStatusAfterLoad(store, context, loaded, { status: 'sent', providerMessageId: result.providerMessageId })
      return 'sent'
    }
    await recordMessageStatusAfterLoad(store, context, loaded, { status: 'failed', reason: result.reason, providerMessageId: null })
    return 'rejected'
  } catch (error) {
    // a delivery report got there first (the decider filled the steps in), or the message ended
    // otherwise meanwhile: what the provider said is already told
    if (movedOn(error)) {
      deps.log?.warn({ messageId: message.messageId, result: result.status }, 'message moved on before the send was recorded')
      return result.status === 'accepted' ? 'sent' : 'rejected'
    }
    throw error
  }
}

/** Why the message's contact may no longer receive it (opted out, deleted), or null. */
async function contactRefusal(store: EventStore, message: OutboundMessage): Promise<string | null> {
  try {
    const contact = await loadContactSnapshot(store, message.tenantId, message.contactId)
    if (contact.deleted) return 'Contact was deleted'
    if (contact.optedOut) return 'Contact has opted out'
    return null
  } catch (error) {
    if (error instanceof NotFound) return 'Contact not found'
    throw error
  }
}

/**
 * The send queue's processor. Its whole-stream reads (the message, its contact) are gathered
 * across the sends running at the same time (coalescedStreamReads): one round trip for many.
 */
export function sendProcessor(deps: MessageSendingDeps): (job: RunningJob<SendJob>) => Promise<void> {
  const gathered: MessageSendingDeps = { ...deps, store: coalescedStreamReads(deps.store) }
  return async (job) => {
    await sendQueuedMessage(gathered, job.data)
  }
}
