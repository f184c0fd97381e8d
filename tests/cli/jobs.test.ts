import { randomBytes } from 'node:crypto'
import t from 'tap'
import { openQueueSystem } from '../../infra/queue/openQueueSystem.ts'
import { removeQueueKeys } from '../../infra/queue/queueKeys.ts'
import { eventually } from '../support/eventually.ts'
import { runScript } from '../support/scriptProcess.ts'
import { redisUrl } from '../support/testDatabase.ts'

/**
 * `mifumo jobs failed` and `mifumo jobs retry` as their own processes, on the test machine's
 * Redis under a key prefix of this file's (QUEUE_PREFIX), against a job that fails every time and
 * has one attempt.
 */
const mifumo = (args: string[], env: Record<string, string>) => runScript('cli.ts', args, env)

t.test('mifumo jobs', async (t) => {
  const prefix = `mifumo-test-${randomBytes(4).toString('hex')}`
  const env = { REDIS_URL: redisUrl, QUEUE_PREFIX: prefix }
  const system = await openQueueSystem({ redisUrl, prefix })
  t.teardown(async () => {
    await system.close()
    await removeQueueKeys(redisUrl, prefix)
  })
  const queueName = 'ops-test'
  const runs: number[] = []
  system.work<{ n: number }>(
    queueName,
    async (job) => {
      runs.push(job.data.n)
      throw new Error('always fails: the provider exploded\n  at somewhere (deep.ts:1:1)')
    },
    { concurrency: 1 },
  )
  const queue = system.queue<{ n: number }>(queueName)
  await queue.add([{ data: { n: 1 }, options: { jobId: 'doomed-1', attempts: 1, backoffMs: 10 } }])
  await eventually(() => queue.failed(), (failed) => failed.length === 1)
  t.equal(runs.length, 1, 'one attempt, then kept as failed')

  await t.test('jobs failed: a table, and JSON', async (t) => {
    const table = await mifumo(['jobs', 'failed', '--queue', queueName], env)
    t.equal(table.code, 0, table.stderr)
    const lines = table.stdout.trimEnd().split('\n')
    t.match(lines[0], /^ID\s+QUEUE\s+ATTEMPTS\s+FAILED AT\s+ERROR$/)
    t.match(lines[1], /^doomed-1\s+ops-test\s+1\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+always fails: the provider exploded at somewhere/)
    t.equal(lines.length, 2)

    // without --queue: every queue that holds failed jobs
    const json = await mifumo(['jobs', 'failed', '--json', '--limit', '10'], env)
    t.equal(json.code, 0, json.stderr)
    const rows = JSON.parse(json.stdout)
    t.match(rows, [{ id: 'doomed-1', queue: queueName, attempts: 1, error: /^always fails/, data: { n: 1 } }])
    t.equal(rows.length, 1)

    const none = await mifumo(['jobs', 'failed', '--queue', 'send'], env)
    t.equal(none.code, 0)
    t.equal(none.stdout, 'No failed jobs.\n')
  })

  await t.test('jobs retry <id>: the job runs again', async (t) => {
    const retried = await mifumo(['jobs', 'retry', 'doomed-1'], env)
    t.equal(retried.code, 0, retried.stderr)
    t.equal(retried.stdout, `Retried job doomed-1 on queue ${queueName}.\n`)
    await eventually(async () => runs.length, (n) => n === 2)
    await eventually(() => queue.failed(), (failed) => failed.length === 1 && failed[0]!.id === 'doomed-1')

    const unknown = await mifumo(['jobs', 'retry', 'no-such-job', '--queue', queueName], env)
    t.equal(unknown.code, 1)
    t.match(unknown.stderr, `no failed job no-such-job in queue ${queueName}`)
  })

  await t.test('jobs retry --all', async (t) => {
    await queue.add([{ data: { n: 2 }, options: { jobId: 'doomed-2', attempts: 1, backoffMs: 10 } }])
    await eventually(() => queue.failed(), (failed) => failed.length === 2)
    const before = runs.length
    const retried = await mifumo(['jobs', 'retry', '--all', '--queue', queueName, '--json'], env)
    t.equal(retried.code, 0, retried.stderr)
    t.same(JSON.parse(retried.stdout), { retried: 2, by_queue: { [queueName]: 2 } })
    await eventually(async () => runs.length, (n) => n === before + 2)
    t.same(runs.slice(before).sort(), [1, 2])
  })

  await t.test('refusals', async (t) => {
    const [noRedis, noAction, badAction, noId, both, badLimit, limitOnRetry] = await Promise.all([
      mifumo(['jobs', 'failed'], {}),
      mifumo(['jobs'], env),
      mifumo(['jobs', 'frobnicate'], env),
      mifumo(['jobs', 'retry'], env),
      mifumo(['jobs', 'retry', 'doomed-1', '--all'], env),
      mifumo(['jobs', 'failed', '--limit', '0'], env),
      mifumo(['jobs', 'retry', 'doomed-1', '--limit', '3'], env),
    ])
    t.equal(noRedis.code, 1)
    t.match(noRedis.stderr, 'REDIS_URL is not set')
    t.match(noRedis.stderr, 'nothing to inspect or retry from another process')
    t.equal(noAction.code, 0, 'jobs alone prints the usage')
    t.match(noAction.stdout, 'jobs failed')
    for (const [result, message] of [
      [badAction, 'jobs takes "failed" or "retry"'],
      [noId, 'jobs retry takes one job id, or --all'],
      [both, 'jobs retry takes one job id, or --all'],
      [badLimit, '--limit must be a whole number'],
      [limitOnRetry, '--limit goes with jobs failed'],
    ] as const) {
      t.equal(result.code, 2, message)
      t.match(result.stderr, message)
    }
  })

  await t.test('the help lists the commands', async (t) => {
    const help = await mifumo(['help'], {})
    t.match(help.stdout, /^\s+jobs failed\s+List the jobs/m)
    t.match(help.stdout, /^\s+jobs retry <job-id>/m)
    t.match(help.stdout, /^\s+credits --tenant <id>/m)
  })
})
