import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { approveTemplate, createTemplate } from './templateCommands.ts'
import { TemplateCreateBody, templateInputFrom } from './templateInput.ts'
import { templateView } from './templateView.ts'

export interface TemplateRoutesOptions {
  store: EventStore
  clock: Clock
}

const TemplateParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

export const templateRoutes: FastifyPluginAsyncTypebox<TemplateRoutesOptions> = async (app, { store, clock }) => {
  app.addHook('preHandler', app.authenticate)

  app.post('/api/messaging/templates/', { schema: { body: TemplateCreateBody } }, async (request, reply) => {
    const input = templateInputFrom(request.body)
    const outcome = await createTemplate({ store }, commandContextOf(request, clock), input)
    return replyWithPosition(reply, 201, outcome.position, { success: true, data: templateView(outcome.template) })
  })

  app.post('/api/messaging/templates/:id/approve/', { schema: { params: TemplateParams } }, async (request, reply) => {
    const outcome = await approveTemplate({ store }, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Template approved successfully',
      data: templateView(outcome.template),
    })
  })
}
