import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { countSegment, createSegment, deleteSegment, updateSegment, type SegmentContactCounter } from './segmentCommands.ts'
import { SegmentBody, segmentDefinitionFrom } from './segmentInput.ts'
import { segmentView } from './segmentView.ts'

export interface SegmentRoutesOptions {
  store: EventStore
  clock: Clock
  contacts: SegmentContactCounter
}

const SegmentParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

/** Segments select contacts: their routes fall under the contact operations' rate limit. */
export const segmentRoutes: FastifyPluginAsyncTypebox<SegmentRoutesOptions> = async (app, { store, clock, contacts }) => {
  app.addHook('preHandler', app.authenticate)
  const deps = { store, contacts }

  app.post('/api/messaging/segments/', { schema: { body: SegmentBody }, config: { rateLimit: 'contacts', idempotent: true } }, async (request, reply) => {
    const outcome = await createSegment(deps, commandContextOf(request, clock), segmentDefinitionFrom(request.body))
    return replyWithPosition(reply, 201, outcome.position, { success: true, data: segmentView(outcome.segment) })
  })

  app.put(
    '/api/messaging/segments/:id/',
    { schema: { params: SegmentParams, body: SegmentBody }, config: { rateLimit: 'contacts' } },
    async (request, reply) => {
      const outcome = await updateSegment(deps, commandContextOf(request, clock), request.params.id.toLowerCase(), segmentDefinitionFrom(request.body))
      return replyWithPosition(reply, 200, outcome.position, { success: true, data: segmentView(outcome.segment) })
    },
  )

  app.delete('/api/messaging/segments/:id/', { schema: { params: SegmentParams }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const outcome = await deleteSegment(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Segment deleted successfully',
      data: { id: outcome.segment.segmentId, deleted_at: outcome.segment.deletedAt },
    })
  })

  app.post('/api/messaging/segments/:id/update-count/', { schema: { params: SegmentParams }, config: { rateLimit: 'contacts' } }, async (request, reply) => {
    const outcome = await countSegment(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Segment count updated successfully',
      data: segmentView(outcome.segment),
    })
  })
}
