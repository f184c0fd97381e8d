import { Redis } from 'ioredis'
import { redisUrl } from './testDatabase.ts'

/** Deletes every key of a queue prefix on the test Redis (a test's queues leave their metadata, failed jobs and metrics). */
export async function dropQueueKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 })
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}
