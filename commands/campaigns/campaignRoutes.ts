import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { completeCampaign, createCampaign, startCampaign } from './campaignCommands.ts'
import { CampaignCreateBody, campaignInputFrom } from './campaignInput.ts'
import type { CampaignOutcomes, RecipientDirectory } from './campaignPorts.ts'
import { completedCampaignView, createdCampaignView, startedCampaignView } from './campaignView.ts'

export interface CampaignRoutesOptions {
  store: EventStore
  clock: Clock
  recipients: RecipientDirectory
  outcomes: CampaignOutcomes
}

const CampaignParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const campaignRoutes: FastifyPluginAsyncTypebox<CampaignRoutesOptions> = async (app, { store, clock, recipients, outcomes }) => {
  app.addHook('preHandler', app.authenticate)
  const deps = { store, recipients, outcomes }

  app.post('/api/messaging/campaigns/', { schema: { body: CampaignCreateBody } }, async (request, reply) => {
    const input = campaignInputFrom(request.body)
    const outcome = await createCampaign(deps, commandContextOf(request, clock), input)
    return replyWithPosition(reply, 201, outcome.position, { success: true, data: createdCampaignView(outcome.campaign, outcome.totalRecipients) })
  })

  app.post('/api/messaging/campaigns/:id/start/', { schema: { params: CampaignParams } }, async (request, reply) => {
    const outcome = await startCampaign(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Campaign started successfully',
      campaign: startedCampaignView(outcome.campaign),
    })
  })

  /** Not in the spec: closes a running campaign with its outcome counts (the system will call it by itself later). */
  app.post('/api/messaging/campaigns/:id/complete/', { schema: { params: CampaignParams } }, async (request, reply) => {
    const outcome = await completeCampaign(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Campaign completed successfully',
      campaign: completedCampaignView(outcome.campaign),
    })
  })
}
