import { BusinessRuleViolation, NotFound } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { isUuid } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { loadAggregate } from '../commandExecution.ts'
import { messageStream, recordLoadedMessageStatus } from '../messages/messageCommands.ts'
import { messageDecider, type StatusReport } from '../messages/messageDecider.ts'

/** One report as a provider posts it (the body's fields, already validated). */
export interface IncomingDeliveryReport {
  /** our message id, sent to the provider as the reference */
  reference: string
  provider_message_id: string
  status: 'delivered' | 'read' | 'failed'
  /** when the provider saw the outcome (informative: the status is recorded at our clock's time) */
  timestamp: string
  reason?: string
}

/**
 * What became of one report:
 * - recorded: the message moved on (its status events were appended);
 * - duplicate: nothing changed — the message already had this status or a later one (a report
 *   repeated, or arriving after a later one);
 * - unknown: no message of this tenant has this reference;
 * - mismatch: the message was sent under another provider message id (the report is not ours);
 * - rejected: the message cannot take this status (failed after delivered, an inbound message).
 */
export type ReportOutcome = 'recorded' | 'duplicate' | 'unknown' | 'mismatch' | 'rejected'

export interface ReportResult {
  reference: string
  provider_message_id: string
  status: IncomingDeliveryReport['status']
  outcome: ReportOutcome
  /** the message's status after the report; null when unknown */
  message_status: string | null
  /** why a report was not recorded */
  reason?: string
}

export interface DeliveryReportOutcome {
  results: ReportResult[]
  /** the highest position among the messages touched (what a reader waits for) */
  position: number
}

const FAILED_WITHOUT_REASON = 'Delivery failed (the provider gave no reason)'

function statusReportOf(report: IncomingDeliveryReport): StatusReport {
  if (report.status === 'failed') return { status: 'failed', reason: report.reason?.trim() || FAILED_WITHOUT_REASON, providerMessageId: report.provider_message_id }
  return { status: report.status, providerMessageId: report.provider_message_id }
}

async function applyOne(store: EventStore, context: CommandContext, report: IncomingDeliveryReport): Promise<ReportResult & { position: number }> {
  const base = { reference: report.reference, provider_message_id: report.provider_message_id, status: report.status }
  const unknown = { ...base, outcome: 'unknown' as const, message_status: null, reason: 'No message of this tenant has this reference', position: 0 }
  if (!isUuid(report.reference)) return unknown
  const messageId = report.reference.toLowerCase()
  const loaded = await loadAggregate(store, messageStream(messageId), messageDecider)
  const message = loaded.state
  if (message.status === 'absent' || message.tenantId !== context.tenantId) return unknown
  if (message.direction !== 'outbound') {
    return { ...base, outcome: 'rejected', message_status: message.status, reason: 'Only outbound messages have delivery statuses', position: loaded.lastPosition }
  }
  if (message.providerMessageId !== null && message.providerMessageId !== report.provider_message_id) {
    return { ...base, outcome: 'mismatch', message_status: message.status, reason: 'The message was sent under another provider message id', position: loaded.lastPosition }
  }
  try {
    // against the message just loaded (read again only if it moved meanwhile)
    const outcome = await recordLoadedMessageStatus(store, context, loaded, statusReportOf(report))
    return { ...base, outcome: outcome.events.length > 0 ? 'recorded' : 'duplicate', message_status: outcome.message.status, position: outcome.position }
  } catch (error) {
    if (error instanceof NotFound) return unknown
    if (error instanceof BusinessRuleViolation) {
      const current = (error.details as { current_status?: string }).current_status ?? null
      return { ...base, outcome: 'rejected', message_status: current, reason: error.message, position: loaded.lastPosition }
    }
    throw error
  }
}

/**
 * Applies a provider's delivery reports to the tenant's messages, as the system. Each report goes
 * through the message's decider (recordMessageStatus): a repeated or older report appends nothing,
 * so a provider retrying a call (same provider message id, same status) changes nothing. Reports
 * of one message are applied in the order given; different messages, a few at a time.
 */
export async function applyDeliveryReports(
  store: EventStore,
  context: CommandContext,
  reports: readonly IncomingDeliveryReport[],
  concurrency = 8,
): Promise<DeliveryReportOutcome> {
  const results: (ReportResult & { position: number })[] = new Array(reports.length)
  const byMessage = new Map<string, number[]>()
  reports.forEach((report, index) => {
    const key = report.reference.toLowerCase()
    const list = byMessage.get(key)
    if (list) list.push(index)
    else byMessage.set(key, [index])
  })
  const groups = [...byMessage.values()]
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < groups.length) {
      const group = groups[next++]!
      for (const index of group) results[index] = await applyOne(store, context, reports[index]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, groups.length) }, worker))
  const position = results.reduce((highest, result) => Math.max(highest, result.position), 0)
  return { results: results.map(({ position: _position, ...result }) => result), position }
}
