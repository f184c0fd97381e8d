import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import type { Clock } from '../infra/clock.ts'
import { NotFound, BusinessRuleViolation } from '../infra/errors.ts'
import type { EventStore } from '../infra/eventStore/eventStore.ts'
import type { Projection } from '../projections/engine/projection.ts'
import { projectionStatuses } from '../projections/engine/projectionStatus.ts'

/**
 * Projection operations for platform administrators: status of every projection (version,
 * checkpoint, lag, state, last error, replay progress), and replays — start (one, or all) and
 * cancel. A replay runs as a job when the service has Redis, in the serving process otherwise.
 */
export interface AdminProjectionRoutesOptions {
  db: Kysely<any>
  store: EventStore
  clock: Clock
  projections: readonly Projection[]
  /** starts (or joins) a projection's replay; answers how: a queued job or started here */
  requestReplay(name: string, requestedBy: string): Promise<'queued' | 'started'>
  /** cancels a replay under way; false when none runs */
  cancelReplay(name: string): Promise<boolean>
}

const NameParams = Type.Object({ name: Type.String({ pattern: '^[a-z][a-z0-9_]*$', maxLength: 100 }) })

export const adminProjectionRoutes: FastifyPluginAsyncTypebox<AdminProjectionRoutesOptions> = async (app, options) => {
  const { db, store, clock, projections } = options
  app.addHook('preHandler', app.requirePlatformAdmin)
  const find = (name: string): Projection => {
    const projection = projections.find((candidate) => candidate.name === name)
    if (!projection) throw new NotFound(`No projection named ${name}`)
    return projection
  }
  const statusesOf = async (selected: readonly Projection[]) => projectionStatuses(db, store, selected, clock.now())

  app.get('/api/admin/projections/', async () => {
    const statuses = await statusesOf(projections)
    return { success: true, data: { head: statuses[0]?.head ?? (await store.headPosition()), projections: statuses } }
  })

  app.get('/api/admin/projections/:name/', { schema: { params: NameParams } }, async (request) => {
    const [status] = await statusesOf([find(request.params.name)])
    return { success: true, data: status }
  })

  app.post('/api/admin/projections/:name/replay/', { schema: { params: NameParams } }, async (request, reply) => {
    const projection = find(request.params.name)
    const how = await options.requestReplay(projection.name, request.principal?.email ?? 'admin')
    const [status] = await statusesOf([projection])
    return reply.status(202).send({ success: true, message: how === 'queued' ? 'Replay queued' : 'Replay started', data: status })
  })

  app.post('/api/admin/projections/replay/', async (request, reply) => {
    for (const projection of projections) await options.requestReplay(projection.name, request.principal?.email ?? 'admin')
    return reply.status(202).send({ success: true, message: 'Replays of every projection requested', data: { projections: await statusesOf(projections) } })
  })

  app.delete('/api/admin/projections/:name/replay/', { schema: { params: NameParams } }, async (request) => {
    const projection = find(request.params.name)
    if (!(await options.cancelReplay(projection.name))) {
      throw new BusinessRuleViolation('No replay of this projection is under way', 'NO_REPLAY', { projection: projection.name }, 409)
    }
    const [status] = await statusesOf([projection])
    return { success: true, message: 'Replay cancelled', data: status }
  })
}
