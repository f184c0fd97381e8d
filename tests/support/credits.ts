import { systemActor } from '../../commands/commandContext.ts'
import { purchaseCredits } from '../../commands/billing/smsCredits.ts'
import type { Services } from '../../app.ts'

/** Tops up a tenant's SMS credits, as an operator would with `mifumo credits`. */
export async function topUpCredits(services: Pick<Services, 'store' | 'clock'>, tenantId: string, parts: number): Promise<number> {
  const { position } = await purchaseCredits(
    services.store,
    { tenantId, actor: systemActor, correlationId: 'test-top-up', causationId: null, ip: null, userAgent: null, now: services.clock.now() },
    parts,
    'test top-up',
  )
  return position
}
