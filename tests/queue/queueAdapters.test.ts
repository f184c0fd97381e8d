import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { Redis } from 'ioredis'
import { BullMqQueueSystem } from '../../infra/queue/bullmqQueues.ts'
import { InProcessQueueSystem } from '../../infra/queue/inProcessQueues.ts'
import type { QueueSystem } from '../../infra/queue/jobQueue.ts'
import { openQueueSystem } from '../../infra/queue/openQueueSystem.ts'
import { eventually } from '../support/eventually.ts'
import { redisUrl } from '../support/testDatabase.ts'
import { queueContract } from './queueContract.ts'

/**
 * Both queue adapters against the same contract: BullMQ on the test machine's Redis (under a
 * random key prefix, deleted at the end) and the in-process queues of the embedded default.
 */

/** Deletes every key under a prefix (what this file created). */
async function deleteKeys(prefix: string): Promise<number> {
  const redis = new Redis(redisUrl)
  let deleted = 0
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 500)
      cursor = next
      if (keys.length > 0) deleted += await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    await redis.quit()
  }
  return deleted
}

t.test('BullMQ on Redis', async (t) => {
  const prefix = `mifumo-test-${randomBytes(4).toString('hex')}`
  const errors: string[] = []
  // short locks so that a dead worker's jobs come back within seconds
  const system = await BullMqQueueSystem.open({
    redisUrl,
    prefix,
    lockDurationMs: 1000,
    stalledIntervalMs: 500,
    onError: (error, context) => errors.push(`${context.source} ${context.queue ?? ''}: ${error.message}`),
  })
  t.teardown(async () => {
    await system.close()
    await deleteKeys(prefix)
  })
  t.equal(system.kind, 'bullmq')
  await queueContract(t, 'BullMQ', { system, recoveryMs: 1000 + 2 * 500 + 1000 })
  t.equal(system.prefix, prefix)
  if (errors.length > 0) t.comment(`errors reported: ${errors.join('; ')}`)

  t.test('the keys live under the prefix', async (t) => {
    const probe = new Redis(redisUrl)
    t.teardown(() => probe.quit())
    const [, keys] = await probe.scan('0', 'MATCH', `${prefix}:*`, 'COUNT', 1000)
    t.ok(keys.length > 0, 'the queues wrote under the prefix')
  })
})

t.test('BullMQ: a Redis that cannot be reached fails at open', async (t) => {
  await t.rejects(BullMqQueueSystem.open({ redisUrl: 'redis://127.0.0.1:1', onError: () => undefined }), /cannot reach Redis/)
})

t.test('in process', async (t) => {
  const system = new InProcessQueueSystem()
  t.teardown(() => system.close())
  t.equal(system.kind, 'in-process')
  await queueContract(t, 'in process', { system, recoveryMs: 0 })
})

t.test('openQueueSystem picks the adapter from the Redis URL', async (t) => {
  const embedded = await openQueueSystem({ redisUrl: undefined })
  t.equal(embedded.kind, 'in-process')
  await embedded.close()
  const prefix = `mifumo-test-${randomBytes(4).toString('hex')}`
  const redis = await openQueueSystem({ redisUrl, prefix })
  t.equal(redis.kind, 'bullmq')
  await redis.close()
  await deleteKeys(prefix)
})

t.test('closing the system lets active jobs finish first, on both adapters', async (t) => {
  const prefix = `mifumo-test-${randomBytes(4).toString('hex')}`
  t.teardown(() => deleteKeys(prefix))
  for (const system of [new InProcessQueueSystem(), await BullMqQueueSystem.open({ redisUrl, prefix })] as QueueSystem[]) {
    const queue = system.queue<null>('closing')
    let begun = false
    let finished = false
    system.work<null>('closing', async () => {
      begun = true
      await sleep(300)
      finished = true
    }, { concurrency: 1 })
    await queue.add([{ data: null, options: { jobId: 'slow' } }])
    await eventually(async () => begun, (b) => b)
    await system.close()
    t.equal(finished, true, `${system.kind}: the active job finished before close() resolved`)
    t.throws(() => system.work('closing', async () => undefined, { concurrency: 1 }), /closed/, `${system.kind}: no workers after close`)
  }
})
