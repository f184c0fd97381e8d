import { Redis } from 'ioredis'
import type { JobInfo, QueueSystem } from '../queue/jobQueue.ts'

/**
 * What `mifumo jobs` shows and does: jobs that failed after their last attempt (the queue
 * adapters keep them, with their error) and putting them back to work. Only jobs in Redis can be
 * seen from another process; the in-process queues of the embedded default live and die with the
 * serving process.
 */

/** The queues (under a key prefix) that hold failed jobs now, found by their BullMQ `failed` sets. */
export async function queuesWithFailedJobs(redisUrl: string, prefix: string): Promise<string[]> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 })
  const names = new Set<string>()
  try {
    await redis.connect()
    const escaped = prefix.replace(/[*?[\]\\]/g, (char) => `\\${char}`)
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${escaped}:*:failed`, 'COUNT', 1000)
      cursor = next
      for (const key of keys) {
        const name = key.slice(prefix.length + 1, -':failed'.length)
        // queue names hold no ':' (a job's own keys are longer)
        if (name && !name.includes(':') && (await redis.type(key)) === 'zset') names.add(name)
      }
    } while (cursor !== '0')
  } finally {
    await redis.quit().catch(() => redis.disconnect())
  }
  return [...names].sort()
}

export interface FailedJobRow {
  id: string
  queue: string
  attempts: number
  failed_at: string
  error: string | null
  data: unknown
}

function rowOf(job: JobInfo): FailedJobRow {
  return {
    id: job.id,
    queue: job.queue,
    attempts: job.attemptsMade,
    failed_at: new Date(job.finishedOn ?? job.timestamp).toISOString(),
    error: job.failedReason,
    data: job.data,
  }
}

/** The failed jobs of the queues, newest failure first, at most `limit` in all. */
export async function listFailedJobs(system: QueueSystem, queues: readonly string[], limit: number): Promise<FailedJobRow[]> {
  const lists = await Promise.all(queues.map((name) => system.queue(name).failed(limit)))
  return lists
    .flat()
    .map(rowOf)
    .sort((a, b) => (a.failed_at < b.failed_at ? 1 : a.failed_at > b.failed_at ? -1 : a.id.localeCompare(b.id)))
    .slice(0, limit)
}

/** Retries one failed job by id in the first of the queues that has it; the queue's name, or null. */
export async function retryFailedJob(system: QueueSystem, queues: readonly string[], jobId: string): Promise<string | null> {
  for (const name of queues) {
    if (await system.queue(name).retry(jobId)) return name
  }
  return null
}

/** Retries every failed job of the queues; how many per queue. */
export async function retryAllFailedJobs(system: QueueSystem, queues: readonly string[], pageSize = 500): Promise<Record<string, number>> {
  const retried: Record<string, number> = {}
  for (const name of queues) {
    const queue = system.queue(name)
    retried[name] = 0
    const seen = new Set<string>()
    for (;;) {
      const page = (await queue.failed(pageSize)).filter((job) => !seen.has(job.id))
      if (page.length === 0) break
      for (const job of page) {
        seen.add(job.id)
        if (await queue.retry(job.id)) retried[name]++
      }
    }
  }
  return retried
}

const oneLine = (text: string): string => text.replace(/\s+/g, ' ').trim()

function clip(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`
}

/** The rows as a plain-text table (id, queue, attempts, failed at, error). */
export function failedJobsTable(rows: readonly FailedJobRow[], errorWidth = 80): string {
  if (rows.length === 0) return 'No failed jobs.\n'
  const header = ['ID', 'QUEUE', 'ATTEMPTS', 'FAILED AT', 'ERROR']
  const cells = rows.map((row) => [row.id, row.queue, String(row.attempts), row.failed_at, clip(oneLine(row.error ?? ''), errorWidth)])
  const widths = header.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)))
  const format = (line: string[]) => line.map((cell, column) => (column === line.length - 1 ? cell : cell.padEnd(widths[column]!))).join('  ').trimEnd()
  return `${[format(header), ...cells.map(format)].join('\n')}\n`
}
