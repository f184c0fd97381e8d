import { BusinessRuleViolation } from '../../infra/errors.ts'
import type { AppendRequest, EventStore } from '../../infra/eventStore/eventStore.ts'
import { deterministicId, newId } from '../../infra/ids.ts'
import { availableParts } from '../billing/smsCreditDecider.ts'
import type { CreditLedgerState } from '../billing/smsCreditEvents.ts'
import { creditAppend } from '../billing/smsCredits.ts'
import type { CommandContext } from '../commandContext.ts'
import { expectedVersionOf, loadAggregate, toNewEvents, withConcurrencyRetry } from '../commandExecution.ts'
import { contactKeyStream, contactStream } from '../contacts/contactCommands.ts'
import { contactDecider } from '../contacts/contactDecider.ts'
import { contactKeyDecider } from '../contacts/contactKeyDecider.ts'
import { normalizePhone, type CountryCode } from '../contacts/phoneNumber.ts'
import { messageStream } from '../messages/messageCommands.ts'
import { messageDecider } from '../messages/messageDecider.ts'
import { billableParts } from '../messages/smsEncoding.ts'

export interface SmsSendInput {
  message: string
  /** phone numbers as given: E.164, international or local to the tenant's country */
  recipients: readonly string[]
  /** null: the provider's default sender id */
  senderId: string | null
}

/**
 * What became of one recipient: queued (a message is on its way), invalid (not a phone number
 * we can send to), duplicate (the same number came earlier in the list: it gets one message),
 * opted_out (the contact with that number opted out: nothing is sent to it).
 */
export type RecipientStatus = 'queued' | 'invalid' | 'duplicate' | 'opted_out'

export interface RecipientResult {
  phone_number: string
  phone_e164: string | null
  status: RecipientStatus
  contact_id?: string
  message_id?: string
  reason?: string
}

export interface SmsSendOutcome {
  batchId: string
  messageIds: string[]
  recipients: RecipientResult[]
  partsPerMessage: number
  totalParts: number
  estimatedCost: number
  currency: string
  /** SMS parts left after this request */
  balanceAfter: number
  position: number
}

/** The price of a part, as the configuration gives it (PRICE_CURRENCY, PRICE_PER_PART_SMS). */
export interface SmsPricing {
  currency: string
  perPart: { sms: number }
}

/** Rounded to cents. */
const money = (amount: number): number => Math.round(amount * 100) / 100

/** The contact a number belongs to, or the appends that create one for it. */
type RecipientPlan =
  | { kind: 'existing'; contactId: string; optedOut: boolean }
  | { kind: 'new'; contactId: string; appends: AppendRequest[] }
  | { kind: 'unusable'; contactId: string; reason: string }

/** The message a recipient of a batch gets: derived from the batch and the number, the same on every retry. */
export const smsSendMessageId = (batchId: string, phone: string): string => deterministicId('sms-send-message', batchId, phone)

async function planRecipient(store: EventStore, context: CommandContext, phone: string): Promise<RecipientPlan> {
  const keyStream = contactKeyStream('phone', context.tenantId, phone)
  const key = await loadAggregate(store, keyStream, contactKeyDecider)
  const holder = key.state.holder
  if (holder) {
    const { state } = await loadAggregate(store, contactStream(holder), contactDecider)
    if (state.status === 'active' && state.tenantId === context.tenantId) {
      return { kind: 'existing', contactId: holder, optedOut: !state.isOptedIn && state.optOutAt !== null }
    }
    // a deleted contact releases its number in the same append: a holder that is not active is
    // not a state the commands leave behind
    if (state.status !== 'absent') return { kind: 'unusable', contactId: holder, reason: 'The contact holding this number is not active' }
  }
  // a claim whose contact never came to be is taken over (as upsertContact does): the contact is
  // created under the claimed id
  const contactId = holder ?? newId()
  const events = contactDecider.decide(
    { type: 'createContact', contactId, tenantId: context.tenantId, changes: { phone }, source: 'api', importId: null, now: context.now },
    contactDecider.initialState,
  )
  const claim = contactKeyDecider.decide({ type: 'claimKey', key: phone, kind: 'phone', contactId }, key.state)
  const appends: AppendRequest[] = [{ streamName: contactStream(contactId), expectedVersion: 'no_stream', events: toNewEvents(events, context) }]
  if (claim.length > 0) appends.push({ streamName: keyStream, expectedVersion: expectedVersionOf(key.version), events: toNewEvents(claim, context) })
  return { kind: 'new', contactId, appends }
}

async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/**
 * POST /sms/send: one outbound SMS per distinct valid recipient, outside any conversation or
 * campaign. Each number is normalized in the tenant's country; a number no contact holds becomes
 * a new contact (named after the number, source api); opted-out contacts get nothing. Everything
 * is ONE atomic append: the new contacts and their number claims, every message, and the credit
 * consumption of all their parts (reference `sms_send` + the batch id). When the balance is too
 * low the ledger refuses (INSUFFICIENT_BALANCE, 402) and nothing at all is appended; a concurrent
 * writer of any of those streams makes the whole command run again.
 */
export async function sendSms(
  store: EventStore,
  context: CommandContext,
  input: SmsSendInput,
  settings: { country: CountryCode; pricing: SmsPricing },
): Promise<SmsSendOutcome> {
  const batchId = newId()
  const numbers = input.recipients.map((given) => ({ given, e164: normalizePhone(given, settings.country) }))
  const firstSeen = new Map<string, string>()
  for (const { given, e164 } of numbers) if (e164 && !firstSeen.has(e164)) firstSeen.set(e164, given)
  const distinct = [...firstSeen.keys()]
  const partsPerMessage = billableParts('sms', input.message)

  return withConcurrencyRetry(async () => {
    const plans = new Map<string, RecipientPlan>()
    const planned = await mapLimit(distinct, 8, (phone) => planRecipient(store, context, phone))
    distinct.forEach((phone, index) => plans.set(phone, planned[index]!))

    const seen = new Set<string>()
    const recipients: RecipientResult[] = numbers.map(({ given, e164 }) => {
      if (!e164) return { phone_number: given, phone_e164: null, status: 'invalid', reason: 'Invalid phone number' }
      if (seen.has(e164)) return { phone_number: given, phone_e164: e164, status: 'duplicate', reason: `Same number as an earlier recipient (${firstSeen.get(e164)})` }
      seen.add(e164)
      const plan = plans.get(e164)!
      if (plan.kind === 'unusable') return { phone_number: given, phone_e164: e164, status: 'invalid', contact_id: plan.contactId, reason: plan.reason }
      if (plan.kind === 'existing' && plan.optedOut) return { phone_number: given, phone_e164: e164, status: 'opted_out', contact_id: plan.contactId, reason: 'Contact has opted out' }
      return { phone_number: given, phone_e164: e164, status: 'queued', contact_id: plan.contactId, message_id: smsSendMessageId(batchId, e164) }
    })
    const queued = recipients.filter((recipient) => recipient.status === 'queued')
    if (queued.length === 0) {
      throw new BusinessRuleViolation('None of the recipients can receive this message', 'NO_RECIPIENTS', { recipients })
    }

    const contactAppends = queued.flatMap((recipient) => {
      const plan = plans.get(recipient.phone_e164!)!
      return plan.kind === 'new' ? plan.appends : []
    })
    const messageAppends: AppendRequest[] = queued.map((recipient) => {
      const messageId = recipient.message_id!
      const events = messageDecider.decide(
        {
          type: 'queueOutbound',
          refs: { messageId, tenantId: context.tenantId, conversationId: null, campaignId: null },
          conversationStatus: null,
          recipient: { contactId: recipient.contact_id!, to: recipient.phone_e164, optedOut: false, deleted: false },
          channel: 'sms',
          content: input.message,
          sentBy: context.actor,
          now: context.now,
          origin: { batchId, senderId: input.senderId },
        },
        messageDecider.initialState,
      )
      return { streamName: messageStream(messageId), expectedVersion: 'no_stream', events: toNewEvents(events, context) }
    })
    const totalParts = partsPerMessage * queued.length
    const credits = await creditAppend(store, context, { type: 'consume', parts: totalParts, reference: { kind: 'sms_send', id: batchId } })
    const result = await store.append([...contactAppends, ...messageAppends, ...credits])
    const after = (credits[0]?.events[0]?.data as { after?: CreditLedgerState } | undefined)?.after
    return {
      batchId,
      messageIds: queued.map((recipient) => recipient.message_id!),
      recipients,
      partsPerMessage,
      totalParts,
      estimatedCost: money(totalParts * settings.pricing.perPart.sms),
      currency: settings.pricing.currency,
      balanceAfter: after ? availableParts(after) : 0,
      position: result.lastPosition,
    }
  })
}
