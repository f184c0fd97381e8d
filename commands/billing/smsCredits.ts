import { NotFound } from '../../infra/errors.ts'
import { streamName, type AppendRequest, type EventStore } from '../../infra/eventStore/eventStore.ts'
import type { CommandContext } from '../commandContext.ts'
import { expectedVersionOf, toNewEvents, withConcurrencyRetry } from '../commandExecution.ts'
import { findTenant } from '../tenants/tenantCommands.ts'
import { currentBillingPeriod } from './billingPeriod.ts'
import { subscriptionOf } from './billingPlans.ts'
import { availableParts, ledgerIn, smsCreditDecider, type PeriodFacts, type SmsCreditCommand, type SmsCreditState } from './smsCreditDecider.ts'
import type { CreditLedgerState, CreditReference, SmsCreditEvent } from './smsCreditEvents.ts'

export const smsCreditStream = (tenantId: string): string => streamName('smsCredits', tenantId)

export interface LoadedLedger {
  state: SmsCreditState
  version: number
}

/** The ledger's state is in its last event: one event read backward, however long the stream. */
export async function loadCreditLedger(store: EventStore, tenantId: string): Promise<LoadedLedger> {
  const slice = await store.readStream(smsCreditStream(tenantId), { direction: 'backward', limit: 1 })
  const last = slice.events[0]
  const state: SmsCreditState = last ? smsCreditDecider.evolve(smsCreditDecider.initialState, { type: last.type, data: last.data } as SmsCreditEvent) : smsCreditDecider.initialState
  return { state, version: slice.version }
}

/** The tenant's current billing period and the parts its plan includes in it. */
export async function currentPeriodFacts(store: EventStore, tenantId: string, now: Date): Promise<PeriodFacts> {
  const tenant = await findTenant(store, tenantId)
  if (!tenant) throw new NotFound('Tenant not found')
  const plan = subscriptionOf({ tenantId, createdAt: tenant.createdAt }).plan
  return { period: currentBillingPeriod(now, tenant.timezone).month, includedAllowance: plan.includedSmsParts }
}

export interface CreditBalance {
  ledger: CreditLedgerState
  availableParts: number
}

export async function creditBalance(store: EventStore, tenantId: string, now: Date): Promise<CreditBalance> {
  const [{ state }, current] = await Promise.all([loadCreditLedger(store, tenantId), currentPeriodFacts(store, tenantId, now)])
  const ledger = ledgerIn(state, current)
  return { ledger, availableParts: availableParts(ledger) }
}

export type CreditChange =
  | { type: 'consume'; parts: number; reference: CreditReference }
  | { type: 'release'; parts: number; reference: CreditReference }

/**
 * The append that consumes or releases credits, to go into the caller's own atomic append (a
 * campaign start consumes with campaignStarted, a message with outboundMessageQueued). Throws the
 * spec's business error INSUFFICIENT_BALANCE (402) when the balance is too low. The caller
 * retries the whole command on a concurrent write (withConcurrencyRetry), which reloads the ledger.
 */
export async function creditAppend(store: EventStore, context: CommandContext, change: CreditChange): Promise<AppendRequest[]> {
  if (change.parts === 0) return []
  const [loaded, current] = await Promise.all([loadCreditLedger(store, context.tenantId), currentPeriodFacts(store, context.tenantId, context.now)])
  const command: SmsCreditCommand =
    change.type === 'consume'
      ? { type: 'consumeCredits', tenantId: context.tenantId, parts: change.parts, reference: change.reference, current, now: context.now }
      : { type: 'releaseCredits', tenantId: context.tenantId, parts: change.parts, reference: change.reference, current, now: context.now }
  const events = smsCreditDecider.decide(command, loaded.state)
  if (events.length === 0) return []
  return [{ streamName: smsCreditStream(context.tenantId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) }]
}

/** Adds purchased credits (an operator's top-up: `mifumo credits`). */
export async function purchaseCredits(store: EventStore, context: CommandContext, parts: number, reason: string): Promise<{ balance: CreditBalance; position: number }> {
  return withConcurrencyRetry(async () => {
    const [loaded, current] = await Promise.all([loadCreditLedger(store, context.tenantId), currentPeriodFacts(store, context.tenantId, context.now)])
    const events = smsCreditDecider.decide(
      { type: 'purchaseCredits', tenantId: context.tenantId, parts, reason, purchasedBy: context.actor, current, now: context.now },
      loaded.state,
    )
    const result = await store.append([{ streamName: smsCreditStream(context.tenantId), expectedVersion: expectedVersionOf(loaded.version), events: toNewEvents(events, context) }])
    const ledger = (events[0]!.data as { after: CreditLedgerState }).after
    return { balance: { ledger, availableParts: availableParts(ledger) }, position: result.lastPosition }
  })
}
