import type { FastifyReply } from 'fastify'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import type { Clock } from '../infra/clock.ts'
import type { CachedAnswer, ReadModelCache } from './readModelCache.ts'
import { awaitPosition } from './readYourWrites.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

/** What a dashboard route needs to answer from kept answers (without `answers`, from the database each time). */
export interface KeptAnswerSource {
  engine: ProjectionEngine
  clock: Clock
  readYourWritesTimeoutMs: number
  answers?: ReadModelCache | undefined
}

/** One dashboard question: the tenant, the query's key within it, the projection it reads. */
export interface DashboardQuestion {
  tenantId: string
  key: string
  projection: string
  minPosition: number | undefined
}

/**
 * Answers a dashboard question with its kept JSON bytes when they are still good, without a
 * promise (the dashboards' polling is almost all such requests), or else computes
 * them: after waiting for `min_position`, through the cache so the next asker finds them kept.
 */
export function sendDashboardAnswer(
  source: KeptAnswerSource,
  reply: FastifyReply,
  question: DashboardQuestion,
  compute: () => Promise<CachedAnswer<Buffer>>,
): FastifyReply | Promise<FastifyReply> {
  const { answers, clock } = source
  const kept = answers && question.minPosition === undefined ? answers.cached<Buffer>(question.tenantId, question.key, clock.now().getTime()) : undefined
  if (kept !== undefined) return reply.type(JSON_TYPE).send(kept)
  return sendComputed(source, reply, question, compute)
}

async function sendComputed(source: KeptAnswerSource, reply: FastifyReply, question: DashboardQuestion, compute: () => Promise<CachedAnswer<Buffer>>): Promise<FastifyReply> {
  const { answers, clock, engine, readYourWritesTimeoutMs } = source
  const { tenantId, key, projection, minPosition } = question
  await awaitPosition(engine, reply, [projection], minPosition, readYourWritesTimeoutMs)
  const body = answers ? await answers.answer({ projections: [projection], tenantId, key, minPosition, at: clock.now().getTime() }, compute) : (await compute()).value
  return reply.type(JSON_TYPE).send(body)
}
