import { removeQueueKeys } from '../../infra/queue/queueKeys.ts'
import { redisUrl } from './testDatabase.ts'

/** Deletes every key of a queue prefix on the test Redis (a test's queues leave their metadata, failed jobs and metrics). */
export function dropQueueKeys(prefix: string): Promise<void> {
  return removeQueueKeys(redisUrl, prefix)
}
