import t from 'tap'
import { smsCreditDecider, type SmsCreditCommand } from '../../commands/billing/smsCreditDecider.ts'
import type { SmsCreditEvent } from '../../commands/billing/smsCreditEvents.ts'
import { BusinessRuleViolation, ValidationFailed } from '../../infra/errors.ts'
import { deciderSpec } from '../support/deciderSpec.ts'

const spec = deciderSpec(smsCreditDecider)
const tenantId = 'tenant-1'
const now = new Date('2026-03-10T09:00:00Z')
const at = now.toISOString()
const march = { period: '2026-03', includedAllowance: 100 }
const april = { period: '2026-04', includedAllowance: 100 }
const campaign = { kind: 'campaign' as const, id: 'c1' }
const operator = { userId: null, name: 'System' }

const consume = (parts: number, current = march): SmsCreditCommand => ({ type: 'consumeCredits', tenantId, parts, reference: campaign, current, now })
const purchased = (parts: number, after: SmsCreditEvent['data']['after']): SmsCreditEvent => ({
  type: 'smsCreditsPurchased',
  data: { tenantId, parts, reason: 'top-up', purchasedBy: operator, after, at },
})

t.test('included parts are spent first, then purchased credits', async (t) => {
  spec.given([]).when(consume(30)).then(t, [
    { type: 'smsCreditsConsumed', data: { tenantId, parts: 30, fromIncluded: 30, fromPurchased: 0, reference: campaign, after: { period: '2026-03', includedAllowance: 100, includedUsed: 30, purchased: 0 }, at } },
  ])
  const topped = purchased(50, { period: '2026-03', includedAllowance: 100, includedUsed: 90, purchased: 50 })
  spec.given([topped]).when(consume(20)).then(t, [
    { type: 'smsCreditsConsumed', data: { tenantId, parts: 20, fromIncluded: 10, fromPurchased: 10, reference: campaign, after: { period: '2026-03', includedAllowance: 100, includedUsed: 100, purchased: 40 }, at } },
  ])
})

t.test('a send beyond the balance is refused, with what it needed and what there was', async (t) => {
  const topped = purchased(5, { period: '2026-03', includedAllowance: 100, includedUsed: 100, purchased: 5 })
  spec.given([topped]).when(consume(6)).refuses(t, {
    type: BusinessRuleViolation,
    message: 'Insufficient SMS balance',
    fields: { errorCode: 'INSUFFICIENT_BALANCE', statusCode: 402, details: { required_parts: 6, available_parts: 5 } },
  })
  spec.given([topped]).when(consume(5)).then(t, [
    { type: 'smsCreditsConsumed', data: { tenantId, parts: 5, fromIncluded: 0, fromPurchased: 5, reference: campaign, after: { period: '2026-03', includedAllowance: 100, includedUsed: 100, purchased: 0 }, at } },
  ])
})

t.test('a new period brings the plan\'s parts again; purchased credits carry over', async (t) => {
  const spentMarch = purchased(7, { period: '2026-03', includedAllowance: 100, includedUsed: 100, purchased: 7 })
  spec.given([spentMarch]).when(consume(100, april)).then(t, [
    { type: 'smsCreditsConsumed', data: { tenantId, parts: 100, fromIncluded: 100, fromPurchased: 0, reference: campaign, after: { period: '2026-04', includedAllowance: 100, includedUsed: 100, purchased: 7 }, at } },
  ])
})

t.test('releases come back as purchased credits; zero changes nothing; bad amounts are refused', async (t) => {
  const state = purchased(1, { period: '2026-03', includedAllowance: 100, includedUsed: 60, purchased: 1 })
  spec.given([state]).when({ type: 'releaseCredits', tenantId, parts: 25, reference: campaign, current: march, now }).then(t, [
    { type: 'smsCreditsReleased', data: { tenantId, parts: 25, reference: campaign, after: { period: '2026-03', includedAllowance: 100, includedUsed: 60, purchased: 26 }, at } },
  ])
  spec.given([state]).when(consume(0)).then(t, [])
  spec.given([state]).when({ type: 'releaseCredits', tenantId, parts: 0, reference: campaign, current: march, now }).then(t, [])
  spec.given([]).when({ type: 'purchaseCredits', tenantId, parts: -3, reason: 'x', purchasedBy: operator, current: march, now }).refuses(t, { type: ValidationFailed })
  spec.given([]).when(consume(1.5)).refuses(t, { type: ValidationFailed })
})
