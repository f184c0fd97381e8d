import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Clock } from '../../infra/clock.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { commandContextOf, replyWithPosition } from '../httpCommand.ts'
import { approveTemplate, createTemplate, deleteTemplate, rejectTemplate, submitTemplate, updateTemplate } from './templateCommands.ts'
import { TemplateCreateBody, TemplateRejectBody, TemplateUpdateBody, templateChangesFrom, templateInputFrom } from './templateInput.ts'
import { templateView } from './templateView.ts'

export interface TemplateRoutesOptions {
  store: EventStore
  clock: Clock
}

const TemplateParams = Type.Object({ id: Type.String({ format: 'uuid' }) })

/**
 * Template commands. GET /templates/ and /templates/{id}/ are queries (queries/templateRoutes.ts).
 * Not in the spec: submit (draft → pending), approve and reject, the review flow a dashboard needs.
 */
export const templateRoutes: FastifyPluginAsyncTypebox<TemplateRoutesOptions> = async (app, { store, clock }) => {
  app.addHook('preHandler', app.authenticate)
  const deps = { store }

  app.post('/api/messaging/templates/', { schema: { body: TemplateCreateBody }, config: { idempotent: true } }, async (request, reply) => {
    const input = templateInputFrom(request.body)
    const outcome = await createTemplate(deps, commandContextOf(request, clock), input)
    return replyWithPosition(reply, 201, outcome.position, { success: true, data: templateView(outcome.template) })
  })

  app.put('/api/messaging/templates/:id/', { schema: { params: TemplateParams, body: TemplateUpdateBody } }, async (request, reply) => {
    const changes = templateChangesFrom(request.body)
    const outcome = await updateTemplate(deps, commandContextOf(request, clock), request.params.id.toLowerCase(), changes)
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Template updated successfully',
      data: templateView(outcome.template),
    })
  })

  app.delete('/api/messaging/templates/:id/', { schema: { params: TemplateParams } }, async (request, reply) => {
    const outcome = await deleteTemplate(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Template deleted successfully',
      data: { id: outcome.templateId, deleted_at: outcome.deletedAt },
    })
  })

  app.post('/api/messaging/templates/:id/submit/', { schema: { params: TemplateParams } }, async (request, reply) => {
    const outcome = await submitTemplate(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Template submitted for review',
      data: templateView(outcome.template),
    })
  })

  app.post('/api/messaging/templates/:id/approve/', { schema: { params: TemplateParams } }, async (request, reply) => {
    const outcome = await approveTemplate(deps, commandContextOf(request, clock), request.params.id.toLowerCase())
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Template approved successfully',
      data: templateView(outcome.template),
    })
  })

  app.post('/api/messaging/templates/:id/reject/', { schema: { params: TemplateParams, body: TemplateRejectBody } }, async (request, reply) => {
    const outcome = await rejectTemplate(deps, commandContextOf(request, clock), request.params.id.toLowerCase(), request.body.reason)
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Template rejected',
      data: templateView(outcome.template),
    })
  })
}
