import type { Kysely } from 'kysely'
import { JobUnrecoverable, type JobProcessor, type QueueSystem } from '../../infra/queue/jobQueue.ts'
import type { Projection } from './projection.ts'
import type { ProjectionEngine } from './projectionEngine.ts'
import { ProjectionReplay } from './projectionReplay.ts'

/**
 * Replays as jobs. With Redis, a replay requested anywhere (the admin endpoint, `mifumo replay`)
 * becomes a BullMQ job that a worker process runs — if that worker dies, the job is taken up
 * again and the replay resumes from its own checkpoint. Without Redis it runs in the process
 * that asked for it.
 */
export const replayQueueName = 'replay'

export interface ReplayJob {
  name: string
  requestedBy: string
}

export const replayJobId = (name: string): string => `replay-${name}`

export function replayProcessor(engine: ProjectionEngine): JobProcessor<ReplayJob> {
  return async (job) => {
    if (!engine.projection(job.data.name)) throw new JobUnrecoverable(`no projection named ${job.data.name}`)
    const replay = await engine.replay(job.data.name, job.data.requestedBy)
    const final = await replay.done()
    if (final === 'failed') throw new JobUnrecoverable(`the replay of ${job.data.name} failed: ${replay.progress().lastError ?? 'unknown error'}`)
  }
}

export async function requestReplay(queues: QueueSystem, engine: ProjectionEngine, name: string, requestedBy: string): Promise<'queued' | 'started'> {
  if (!engine.projection(name)) throw new Error(`no projection named ${name}`)
  if (queues.kind === 'bullmq') {
    await queues.queue<ReplayJob>(replayQueueName).add([{ data: { name, requestedBy }, options: { jobId: replayJobId(name), attempts: 3, backoffMs: 5000 } }])
    return 'queued'
  }
  await engine.replay(name, requestedBy)
  return 'started'
}

/** Cancels a replay: at once when this process runs it, through its row otherwise (the process running it stops). */
export async function cancelReplay(db: Kysely<any>, engine: ProjectionEngine, projection: Projection): Promise<boolean> {
  if (engine.activeReplay(projection.name)) return engine.cancelReplay(projection.name)
  return ProjectionReplay.cancelAnywhere({ db }, projection)
}
