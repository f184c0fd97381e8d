import { BusinessRuleViolation, ValidationFailed } from '../../infra/errors.ts'
import type { Actor } from '../commandContext.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { CreditLedgerState, CreditReference, SmsCreditEvent } from './smsCreditEvents.ts'

/** The ledger before its first event: nothing used, nothing purchased. */
export type SmsCreditState = { status: 'empty' } | { status: 'open'; ledger: CreditLedgerState }

/** Where the ledger stands in a period: a new period resets the included parts to the plan's. */
export interface PeriodFacts {
  period: string
  includedAllowance: number
}

export type SmsCreditCommand =
  | { type: 'purchaseCredits'; tenantId: string; parts: number; reason: string; purchasedBy: Actor; current: PeriodFacts; now: Date }
  | { type: 'consumeCredits'; tenantId: string; parts: number; reference: CreditReference; current: PeriodFacts; now: Date }
  | { type: 'releaseCredits'; tenantId: string; parts: number; reference: CreditReference; current: PeriodFacts; now: Date }

/** The ledger as it stands in the current period (included counters reset when the period changed). */
export function ledgerIn(state: SmsCreditState, current: PeriodFacts): CreditLedgerState {
  if (state.status === 'empty') return { period: current.period, includedAllowance: current.includedAllowance, includedUsed: 0, purchased: 0 }
  if (state.ledger.period !== current.period) return { period: current.period, includedAllowance: current.includedAllowance, includedUsed: 0, purchased: state.ledger.purchased }
  return { ...state.ledger, includedAllowance: current.includedAllowance }
}

export function availableParts(ledger: CreditLedgerState): number {
  return Math.max(0, ledger.includedAllowance - ledger.includedUsed) + ledger.purchased
}

function positive(parts: number): void {
  if (!Number.isInteger(parts) || parts <= 0) throw ValidationFailed.field('parts', 'Must be a positive whole number of parts.')
}

function purchaseCredits(command: Extract<SmsCreditCommand, { type: 'purchaseCredits' }>, state: SmsCreditState): SmsCreditEvent[] {
  positive(command.parts)
  const before = ledgerIn(state, command.current)
  const after = { ...before, purchased: before.purchased + command.parts }
  return [
    {
      type: 'smsCreditsPurchased',
      data: { tenantId: command.tenantId, parts: command.parts, reason: command.reason, purchasedBy: { userId: command.purchasedBy.userId, name: command.purchasedBy.name }, after, at: command.now.toISOString() },
    },
  ]
}

function consumeCredits(command: Extract<SmsCreditCommand, { type: 'consumeCredits' }>, state: SmsCreditState): SmsCreditEvent[] {
  if (command.parts === 0) return []
  positive(command.parts)
  const before = ledgerIn(state, command.current)
  const available = availableParts(before)
  if (command.parts > available) {
    throw new BusinessRuleViolation('Insufficient SMS balance', 'INSUFFICIENT_BALANCE', { required_parts: command.parts, available_parts: available }, 402)
  }
  const fromIncluded = Math.min(command.parts, Math.max(0, before.includedAllowance - before.includedUsed))
  const fromPurchased = command.parts - fromIncluded
  const after = { ...before, includedUsed: before.includedUsed + fromIncluded, purchased: before.purchased - fromPurchased }
  return [
    {
      type: 'smsCreditsConsumed',
      data: { tenantId: command.tenantId, parts: command.parts, fromIncluded, fromPurchased, reference: command.reference, after, at: command.now.toISOString() },
    },
  ]
}

function releaseCredits(command: Extract<SmsCreditCommand, { type: 'releaseCredits' }>, state: SmsCreditState): SmsCreditEvent[] {
  if (command.parts === 0) return []
  positive(command.parts)
  const before = ledgerIn(state, command.current)
  const after = { ...before, purchased: before.purchased + command.parts }
  return [{ type: 'smsCreditsReleased', data: { tenantId: command.tenantId, parts: command.parts, reference: command.reference, after, at: command.now.toISOString() } }]
}

export function decide(command: SmsCreditCommand, state: SmsCreditState): SmsCreditEvent[] {
  switch (command.type) {
    case 'purchaseCredits':
      return purchaseCredits(command, state)
    case 'consumeCredits':
      return consumeCredits(command, state)
    case 'releaseCredits':
      return releaseCredits(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(_state: SmsCreditState, event: SmsCreditEvent): SmsCreditState {
  switch (event.type) {
    case 'smsCreditsPurchased':
    case 'smsCreditsConsumed':
    case 'smsCreditsReleased':
      return { status: 'open', ledger: event.data.after }
    default:
      return unreachable(event)
  }
}

export const smsCreditDecider: Decider<SmsCreditCommand, SmsCreditEvent, SmsCreditState> = {
  initialState: { status: 'empty' },
  evolve,
  decide,
}
