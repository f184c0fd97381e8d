import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import type { CommandContext } from '../commandContext.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import {
  cancelCampaign,
  completeCampaign,
  createCampaign,
  deleteCampaign,
  estimateCampaign,
  pauseCampaign,
  resumeCampaign,
  startCampaign,
  updateCampaign,
  type CampaignDeps,
  type CampaignResult,
} from './campaignCommands.ts'
import type { ExistingCampaign, Pricing } from './campaignDecider.ts'
import { CampaignCreateBody, CampaignCreateQuery, CampaignUpdateBody, campaignChangesFrom, campaignInputFrom } from './campaignInput.ts'
import type { CampaignOutcomes, RecipientDirectory, RecipientResolution } from './campaignPorts.ts'
import {
  cancelledCampaignView,
  completedCampaignView,
  createdCampaignView,
  pausedCampaignView,
  resumedCampaignView,
  startedCampaignView,
  updatedCampaignView,
} from './campaignView.ts'

export interface CampaignRoutesOptions {
  store: EventStore
  clock: Clock
  recipients: RecipientDirectory
  outcomes: CampaignOutcomes
  /** prices per message part, for cost estimates */
  pricing: Pricing
  /** the dry run's `explanations`: a line per reason that left targeted contacts out */
  explain: (resolution: RecipientResolution) => string[]
}

const CampaignParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

/** The state changes of the campaign state machine (campaignStatus.ts), each answered like the spec's start sample. */
const ACTIONS: readonly {
  path: string
  run: (deps: CampaignDeps, context: CommandContext, campaignId: string) => Promise<CampaignResult>
  message: string
  view: (campaign: ExistingCampaign) => object
}[] = [
  { path: 'start', run: startCampaign, message: 'Campaign started successfully', view: startedCampaignView },
  { path: 'pause', run: pauseCampaign, message: 'Campaign paused successfully', view: pausedCampaignView },
  /** not in the spec's table: a paused campaign goes on sending */
  { path: 'resume', run: resumeCampaign, message: 'Campaign resumed successfully', view: resumedCampaignView },
  { path: 'cancel', run: cancelCampaign, message: 'Campaign cancelled successfully', view: cancelledCampaignView },
  /** not in the spec's table: closes a running or paused campaign with its outcome counts (the system will call it by itself later) */
  { path: 'complete', run: completeCampaign, message: 'Campaign completed successfully', view: completedCampaignView },
]

export const campaignRoutes: FastifyPluginAsyncTypebox<CampaignRoutesOptions> = async (app, { store, clock, recipients, outcomes, pricing, explain }) => {
  app.addHook('preHandler', app.authenticate)
  const deps: CampaignDeps = { store, recipients, outcomes, pricing }

  app.post(
    '/api/messaging/campaigns/',
    { schema: { body: CampaignCreateBody, querystring: CampaignCreateQuery }, config: { rateLimit: 'campaigns', idempotent: true } },
    async (request, reply) => {
      const input = campaignInputFrom(request.body)
      const context = commandContextOf(request, clock)
      if (request.query.dry_run) {
        const estimate = await estimateCampaign(deps, context, input)
        return reply.status(200).send({
          success: true,
          data: { total_recipients: estimate.totalRecipients, estimated_cost: estimate.estimatedCost, explanations: explain(estimate.resolution) },
        })
      }
      const outcome = await createCampaign(deps, context, input)
      return replyWithPosition(reply, 201, outcome.position, { success: true, data: createdCampaignView(outcome.campaign) })
    },
  )

  app.put('/api/messaging/campaigns/:id/', { schema: { params: CampaignParams, body: CampaignUpdateBody }, config: { rateLimit: 'campaigns' } }, async (request, reply) => {
    const changes = campaignChangesFrom(request.body)
    const outcome = await updateCampaign(deps, commandContextOf(request, clock), request.params.id.toLowerCase(), changes)
    return replyWithPosition(reply, 200, outcome.position, { success: true, message: 'Campaign updated successfully', data: updatedCampaignView(outcome.campaign) })
  })

  app.delete('/api/messaging/campaigns/:id/', { schema: { params: CampaignParams }, config: { rateLimit: 'campaigns' } }, async (request, reply) => {
    const outcome = await deleteCampaign(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Campaign deleted successfully',
      data: { id: outcome.campaign.campaignId, deleted_at: outcome.campaign.deletedAt },
    })
  })

  for (const action of ACTIONS) {
    app.post(`/api/messaging/campaigns/:id/${action.path}/`, { schema: { params: CampaignParams }, config: { rateLimit: 'campaigns' } }, async (request, reply) => {
      const outcome = await action.run(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
      return replyWithPosition(reply, 200, outcome.position, { success: true, message: action.message, campaign: action.view(outcome.campaign) })
    })
  }
}
