import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'

/**
 * Read-your-writes: a client passes the `position` a command returned as `?min_position=N`; the
 * query waits (bounded) until the projections it reads have processed N, then answers, telling in
 * a header whether they caught up.
 */
export const MinPosition = Type.Optional(Type.Integer({ minimum: 0, description: 'global position returned by a command; wait until this read model has reached it' }))

export const CAUGHT_UP_HEADER = 'x-read-model-caught-up'

export async function awaitPosition(
  engine: ProjectionEngine,
  reply: FastifyReply,
  projectionNames: readonly string[],
  minPosition: number | undefined,
  timeoutMs: number,
): Promise<void> {
  if (minPosition === undefined) return
  const results = await Promise.all(projectionNames.map((name) => engine.waitFor(name, minPosition, timeoutMs)))
  reply.header(CAUGHT_UP_HEADER, String(results.every(Boolean)))
}
