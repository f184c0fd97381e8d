import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { openQueueSystem } from '../../infra/queue/openQueueSystem.ts'
import type { BaselineResult, BenchContext, BenchMode } from '../harness/benchmark.ts'
import { removeQueueKeys } from '../../infra/queue/queueKeys.ts'

/**
 * Baseline of the delivery pipeline: BullMQ jobs that do nothing, through our own queue port
 * (infra/queue) on the run's Redis, one worker of concurrency 50: jobs per second from the first
 * add to the last job finished. The same number of jobs as the delivery figure has recipients, so
 * both pay the same queue start-up and drain.
 */

export const NOOP_JOBS: Record<BenchMode, number> = { smoke: 100, quick: 2_000, full: 20_000 }
const CONCURRENCY = 50

export async function measureBaseline(ctx: BenchContext): Promise<BaselineResult> {
  const jobs = NOOP_JOBS[ctx.mode]
  const prefix = `bench-noop-${randomBytes(4).toString('hex')}`
  ctx.onCleanup(() => removeQueueKeys(ctx.redisUrl, prefix))
  const queues = await openQueueSystem({ redisUrl: ctx.redisUrl, prefix })
  try {
    const queue = queues.queue<{ n: number }>('noop')
    let done = 0
    const worker = queues.work<{ n: number }>(
      'noop',
      async () => {
        done++
      },
      { concurrency: CONCURRENCY },
    )
    const started = performance.now()
    await queue.add(Array.from({ length: jobs }, (_, n) => ({ data: { n }, options: { jobId: `noop-${n}` } })))
    while (done < jobs) await sleep(5)
    const elapsedMs = performance.now() - started
    await worker.close()
    const value = (jobs / elapsedMs) * 1000
    ctx.log(`BullMQ no-op: ${jobs} jobs in ${Math.round(elapsedMs)} ms = ${Math.round(value)} jobs/s`)
    return { name: 'bullmqNoop', value, unit: 'jobs/s', details: { jobs, concurrency: CONCURRENCY, elapsedMs: Math.round(elapsedMs) } }
  } finally {
    await queues.close()
    await removeQueueKeys(ctx.redisUrl, prefix)
  }
}

