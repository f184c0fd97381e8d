import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Test } from 'tap'
import { JobDelayed, JobUnrecoverable, type JobQueue, type QueueSystem, type RunningJob } from '../../infra/queue/jobQueue.ts'
import { InvalidJob } from '../../infra/queue/jobRules.ts'
import { eventually } from '../support/eventually.ts'

/**
 * The contract every QueueSystem adapter must pass. It is not a test file: an adapter's test file
 * calls `queueContract(t, name, subject)`. Every test uses queues of its own (random names), so
 * the tests share one system. Timing assertions are lower bounds only ("not before"), or counts
 * within windows with a wide margin: a slow machine makes them pass more easily, never fail.
 */

export interface QueueContractSubject {
  system: QueueSystem
  /**
   * longest it may take for a job abandoned by a worker closed with force to be processed again
   * (BullMQ: lock duration + stalled checks)
   */
  recoveryMs: number
}

interface Gate {
  promise: Promise<void>
  open(): void
  fail(error: Error): void
}

function gate(): Gate {
  let open!: () => void
  let fail!: (error: Error) => void
  const promise = new Promise<void>((resolve, reject) => {
    open = resolve
    fail = reject
  })
  promise.catch(() => undefined)
  return { promise, open, fail }
}

/** A unique queue name per test: tests sharing one system never see each other's jobs. */
const queueName = (label: string) => `contract-${label}-${randomBytes(4).toString('hex')}`

const settled = async <Data>(queue: JobQueue<Data>, timeoutMs = 10_000) =>
  eventually(
    () => queue.counts(),
    (c) => c.waiting === 0 && c.active === 0 && c.delayed === 0,
    timeoutMs,
  )

export function queueContract(t: Test, name: string, subject: QueueContractSubject): Promise<void> {
  const { system } = subject
  // every worker a test starts is closed at the end of that test, whatever happened
  const started = <Data>(t: Test, queue: string, processor: (job: RunningJob<Data>) => Promise<void>, options: Parameters<QueueSystem['work']>[2]) => {
    const worker = system.work<Data>(queue, processor, options)
    t.teardown(() => worker.close({ force: true }))
    return worker
  }

  return t.test(`queue contract: ${name}`, async (t) => {
    t.test('a job id that is waiting, delayed, active or failed is added once; a finished one can be added again', async (t) => {
      const name = queueName('dedupe')
      const queue = system.queue<{ n: number }>(name)
      const runs = new Map<string, number>()
      const seen: { id: string; n: number }[] = []
      const held = gate()
      let holding = false

      // waiting: added (twice, and twice in one call) before any worker exists
      await queue.add([
        { data: { n: 1 }, options: { jobId: 'waiting-1' } },
        { data: { n: 2 }, options: { jobId: 'waiting-1' } },
      ])
      await queue.add([{ data: { n: 3 }, options: { jobId: 'waiting-1' } }])
      // delayed
      await queue.add([{ data: { n: 1 }, options: { jobId: 'delayed-1', delayMs: 300 } }])
      await queue.add([{ data: { n: 2 }, options: { jobId: 'delayed-1' } }])
      t.match(await queue.counts(), { waiting: 1, delayed: 1, active: 0 }, 'one waiting, one delayed: the repeats were no-ops')

      const worker = started<{ n: number }>(t, name, async (job) => {
        runs.set(job.id, (runs.get(job.id) ?? 0) + 1)
        seen.push({ id: job.id, n: job.data.n })
        if (job.id === 'active-1' && holding) await held.promise
        if (job.id === 'failing-1') throw new Error('this one fails')
      }, { concurrency: 4 })

      await eventually(async () => runs.get('delayed-1') ?? 0, (n) => n === 1)
      t.same(seen.filter((s) => s.id === 'waiting-1'), [{ id: 'waiting-1', n: 1 }], 'the first add wins')
      t.same(seen.filter((s) => s.id === 'delayed-1'), [{ id: 'delayed-1', n: 1 }], 'the delayed job ran once, with its first data')

      // active: the same id added while it runs
      holding = true
      await queue.add([{ data: { n: 1 }, options: { jobId: 'active-1' } }])
      await eventually(async () => runs.get('active-1') ?? 0, (n) => n === 1)
      await queue.add([{ data: { n: 2 }, options: { jobId: 'active-1' } }])
      t.match(await queue.counts(), { waiting: 0, active: 1, delayed: 0 }, 'adding an active id is a no-op')
      holding = false
      held.open()
      await settled(queue)
      t.equal(runs.get('active-1'), 1, 'the active job ran once')

      // finished: the same id again is a new job
      await queue.add([{ data: { n: 3 }, options: { jobId: 'active-1' } }])
      await eventually(async () => runs.get('active-1') ?? 0, (n) => n === 2)
      t.same(seen.filter((s) => s.id === 'active-1').map((s) => s.n), [1, 3], 'a completed job does not block its id')

      // failed: kept, and its id stays taken until it is retried or removed
      await queue.add([{ data: { n: 1 }, options: { jobId: 'failing-1', attempts: 1 } }])
      await eventually(() => queue.failed(), (failed) => failed.length === 1)
      await queue.add([{ data: { n: 2 }, options: { jobId: 'failing-1', attempts: 1 } }])
      await sleep(100)
      t.equal(runs.get('failing-1'), 1, 'adding a failed id is a no-op')
      t.equal(await queue.remove('failing-1'), true, 'remove() drops a failed job')
      t.same(await queue.failed(), [])
      await queue.add([{ data: { n: 3 }, options: { jobId: 'failing-1', attempts: 1 } }])
      await eventually(() => queue.failed(), (failed) => failed.length === 1)
      t.equal(runs.get('failing-1'), 2, 'after remove() the id can be added again')

      const counts = await settled(queue)
      t.match(counts, { waiting: 0, active: 0, delayed: 0, failed: 1 })
      t.equal(counts.completed, 4, 'completed counts every job that finished (they are not kept)')
      await worker.close()
    })

    t.test('job ids: any id without ":" comes back as given; invalid ones refuse the whole batch', async (t) => {
      const name = queueName('ids')
      const queue = system.queue<string>(name)
      const ids: string[] = []
      started<string>(t, name, async (job) => {
        ids.push(job.id)
        t.equal(job.data, `data of ${job.id}`)
      }, { concurrency: 2 })
      const valid = ['42', '#7', '##x', 'campaign-1f0c.recipient_9', 'x'.repeat(200)]
      await queue.add(valid.map((id) => ({ data: `data of ${id}`, options: { jobId: id } })))
      await eventually(async () => ids.length, (n) => n === valid.length)
      t.same([...ids].sort(), [...valid].sort())

      for (const bad of ['a:b', '', 'x'.repeat(201)]) {
        await t.rejects(queue.add([{ data: 'fine', options: { jobId: 'fine-1' } }, { data: 'bad', options: { jobId: bad } }]), InvalidJob, `refuses ${JSON.stringify(bad.slice(0, 20))}`)
      }
      await t.rejects(queue.add([{ data: 'x', options: { jobId: 'tries', attempts: 0 } }]), InvalidJob, 'attempts must be at least 1')
      await sleep(100)
      t.notOk(ids.includes('fine-1'), 'nothing of a refused batch was added')
      t.throws(() => system.queue('bad:name'), InvalidJob)
      t.throws(() => system.work(queueName('x'), async () => undefined, { concurrency: 0 }), InvalidJob)
      await settled(queue)
    })

    t.test('a delayed job runs after its delay, not before', async (t) => {
      const name = queueName('delay')
      const queue = system.queue<null>(name)
      const ranAt: number[] = []
      started<null>(t, name, async () => {
        ranAt.push(Date.now())
      }, { concurrency: 1 })
      const addedAt = Date.now()
      await queue.add([{ data: null, options: { jobId: 'later', delayMs: 500 } }])
      t.match(await queue.counts(), { delayed: 1, waiting: 0 })
      await eventually(async () => ranAt.length, (n) => n === 1)
      // BullMQ's timestamps are milliseconds of another clock reading: a little slack
      t.ok(ranAt[0]! - addedAt >= 480, `ran ${ranAt[0]! - addedAt} ms after it was added (delay 500 ms)`)
      await settled(queue)
    })

    t.test('a failing job is retried with exponential backoff, then succeeds', async (t) => {
      const name = queueName('backoff')
      const queue = system.queue<null>(name)
      const tries: { attempt: number; at: number }[] = []
      started<null>(t, name, async (job) => {
        tries.push({ attempt: job.attempt, at: Date.now() })
        if (job.attempt < 3) throw new Error(`try ${job.attempt} fails`)
      }, { concurrency: 1 })
      await queue.add([{ data: null, options: { jobId: 'flaky', attempts: 5, backoffMs: 150 } }])
      const counts = await eventually(() => queue.counts(), (c) => c.completed === 1)
      t.same(tries.map((x) => x.attempt), [1, 2, 3])
      const gaps = [tries[1]!.at - tries[0]!.at, tries[2]!.at - tries[1]!.at]
      t.ok(gaps[0]! >= 140, `first retry after ${gaps[0]} ms (backoff 150)`)
      t.ok(gaps[1]! >= 290, `second retry after ${gaps[1]} ms (backoff doubled: 300)`)
      t.match(counts, { failed: 0, waiting: 0, delayed: 0, active: 0 })
      t.same(await queue.failed(), [])
    })

    t.test('a job that fails every attempt is kept as failed with its error, and retry() runs it again', async (t) => {
      const name = queueName('exhausted')
      const queue = system.queue<{ campaign: string }>(name)
      let healed = false
      const tries: { id: string; attempt: number }[] = []
      started<{ campaign: string }>(t, name, async (job) => {
        tries.push({ id: job.id, attempt: job.attempt })
        if (!healed) throw new Error(`gateway refused try ${job.attempt}`)
      }, { concurrency: 2 })
      const before = Date.now()
      await queue.add([
        { data: { campaign: 'c-1' }, options: { jobId: 'send-1', attempts: 3, backoffMs: 20 } },
        { data: { campaign: 'c-1' }, options: { jobId: 'send-2', attempts: 1 } },
      ])
      const failed = await eventually(() => queue.failed(), (jobs) => jobs.length === 2)
      const one = failed.find((job) => job.id === 'send-1')
      t.match(one, { id: 'send-1', queue: name, data: { campaign: 'c-1' }, attemptsMade: 3, failedReason: 'gateway refused try 3' })
      t.ok(one && one.finishedOn !== null && one.finishedOn >= before && one.timestamp >= before - 1000, 'with when it was added and when it failed')
      t.same(tries.filter((x) => x.id === 'send-1').map((x) => x.attempt), [1, 2, 3], 'three tries, then no more')
      t.equal((await queue.failed(1)).length, 1, 'failed(limit)')
      t.match(await queue.counts(), { failed: 2, waiting: 0, delayed: 0, active: 0, completed: 0 })

      t.equal(await queue.retry('no-such-job'), false)
      healed = true
      t.equal(await queue.retry('send-1'), true)
      await eventually(() => queue.counts(), (c) => c.completed === 1)
      t.same(tries.filter((x) => x.id === 'send-1').map((x) => x.attempt), [1, 2, 3, 1], 'the retried job starts over with its full tries')
      t.equal(await queue.retry('send-1'), false, 'a job that is no longer failed is not retried')
      t.same((await queue.failed()).map((job) => job.id), ['send-2'])
      t.equal(await queue.remove('send-2'), true)
      t.equal(await queue.remove('send-2'), false, 'nothing left to remove')
      t.match(await settled(queue), { failed: 0, completed: 1 })
    })

    t.test('JobDelayed re-schedules without using an attempt; JobUnrecoverable fails at once', async (t) => {
      const name = queueName('delayed-error')
      const queue = system.queue<null>(name)
      const tries: { id: string; attempt: number; at: number }[] = []
      started<null>(t, name, async (job) => {
        tries.push({ id: job.id, attempt: job.attempt, at: Date.now() })
        if (job.id === 'paused-send' && tries.filter((x) => x.id === job.id).length <= 4) throw new JobDelayed(100, 'campaign paused')
        if (job.id === 'bad-number') throw new JobUnrecoverable('not a valid phone number')
      }, { concurrency: 2 })
      await queue.add([
        { data: null, options: { jobId: 'paused-send', attempts: 2, backoffMs: 10 } },
        { data: null, options: { jobId: 'bad-number', attempts: 5, backoffMs: 10 } },
      ])
      await eventually(() => queue.counts(), (c) => c.completed === 1 && c.failed === 1)
      const paused = tries.filter((x) => x.id === 'paused-send')
      t.same(paused.map((x) => x.attempt), [1, 1, 1, 1, 1], 'five runs, each its first attempt (only 2 were allowed)')
      t.ok(paused.slice(1).every((x, i) => x.at - paused[i]!.at >= 90), 'each after the delay it asked for')
      t.same(tries.filter((x) => x.id === 'bad-number').map((x) => x.attempt), [1], 'the unrecoverable job ran once')
      t.match(await queue.failed(), [{ id: 'bad-number', attemptsMade: 1, failedReason: 'not a valid phone number' }])
    })

    t.test('no more than `concurrency` jobs of a worker run at once', async (t) => {
      const name = queueName('concurrency')
      const queue = system.queue<null>(name)
      let running = 0
      let most = 0
      let done = 0
      started<null>(t, name, async () => {
        running += 1
        most = Math.max(most, running)
        await sleep(40)
        running -= 1
        done += 1
      }, { concurrency: 3 })
      await queue.add(Array.from({ length: 15 }, (_, i) => ({ data: null, options: { jobId: `job-${i}` } })))
      await eventually(async () => done, (n) => n === 15)
      t.ok(most <= 3, `at most 3 at once (saw ${most})`)
      t.ok(most >= 2, `and more than one at once (saw ${most})`)
      await settled(queue)
    })

    t.test('a rate limit holds across the workers of a queue', async (t) => {
      const name = queueName('rate')
      const queue = system.queue<null>(name)
      const max = 4
      const durationMs = 500
      const startedAt: number[] = []
      const processor = async () => {
        startedAt.push(Date.now())
      }
      started<null>(t, name, processor, { concurrency: 5, rateLimit: { max, durationMs } })
      started<null>(t, name, processor, { concurrency: 5, rateLimit: { max, durationMs } })
      const jobs = 12
      const begin = Date.now()
      await queue.add(Array.from({ length: jobs }, (_, i) => ({ data: null, options: { jobId: `job-${i}` } })))
      await eventually(async () => startedAt.length, (n) => n === jobs, 20_000)
      // fixed windows (BullMQ) and a token bucket (in process) both let at most 2 × max start in
      // any span shorter than the duration; half of it leaves room for the time a start takes to
      // be recorded. Without a limit, all 12 would start within a few milliseconds.
      const sorted = [...startedAt].sort((a, b) => a - b)
      let densest = 0
      for (let i = 0; i < sorted.length; i += 1) {
        densest = Math.max(densest, sorted.filter((at) => at >= sorted[i]! && at < sorted[i]! + durationMs / 2).length)
      }
      t.ok(densest <= 2 * max, `at most ${2 * max} starts in any ${durationMs / 2} ms (saw ${densest})`)
      // 12 jobs at 4 per 500 ms need at least two more windows after the first
      const elapsed = sorted[sorted.length - 1]! - begin
      t.ok(elapsed >= 2 * durationMs - 100, `the last started ${elapsed} ms after the first add (at least ~${2 * durationMs})`)
      await settled(queue)
    })

    t.test('close() waits for the active job to finish', async (t) => {
      const name = queueName('graceful')
      const queue = system.queue<null>(name)
      let begun = false
      let finished = false
      const worker = started<null>(t, name, async () => {
        begun = true
        await sleep(300)
        finished = true
      }, { concurrency: 1 })
      await queue.add([{ data: null, options: { jobId: 'long' } }])
      await eventually(async () => begun, (b) => b)
      await worker.close()
      t.equal(finished, true, 'the job finished before close() resolved')
      t.match(await queue.counts(), { completed: 1, active: 0, waiting: 0, failed: 0 })
      // jobs added after the worker closed wait for another
      await queue.add([{ data: null, options: { jobId: 'next' } }])
      await sleep(100)
      t.match(await queue.counts(), { waiting: 1, completed: 1 })
      started<null>(t, name, async () => undefined, { concurrency: 1 })
      await eventually(() => queue.counts(), (c) => c.completed === 2)
    })

    t.test('after a worker dies mid-run, another finishes every job; an idempotent effect is recorded once per job', async (t) => {
      const name = queueName('crash')
      const queue = system.queue<{ n: number }>(name)
      const total = 30
      const starts = new Map<string, number>()
      const effects = new Set<string>()
      const effectLog: string[] = []
      const hung = new Set<string>()
      const crash = gate()
      const start = (id: string) => starts.set(id, (starts.get(id) ?? 0) + 1)
      const record = (id: string) => {
        // the idempotent side effect: keyed by the job id
        if (!effects.has(id)) effectLog.push(id)
        effects.add(id)
      }
      let finishedByFirst = 0
      const first = started<{ n: number }>(t, name, async (job) => {
        start(job.id)
        if (finishedByFirst >= 6) {
          // from here on this worker "hangs" mid-job, then dies with the jobs in its hands
          hung.add(job.id)
          await crash.promise
        }
        await sleep(20)
        record(job.id)
        finishedByFirst += 1
      }, { concurrency: 3 })
      await queue.add(Array.from({ length: total }, (_, n) => ({ data: { n }, options: { jobId: `recipient-${n}` } })))
      await eventually(async () => hung.size, (n) => n === 3)
      await first.close({ force: true })
      // what the dead worker was doing never finishes
      crash.fail(new Error('worker died'))

      started<{ n: number }>(t, name, async (job) => {
        start(job.id)
        await sleep(5)
        record(job.id)
      }, { concurrency: 3 })
      await eventually(async () => effects.size, (n) => n === total, 10_000 + subject.recoveryMs)
      const counts = await settled(queue, 5_000)
      t.match(counts, { waiting: 0, active: 0, delayed: 0, failed: 0 })
      t.equal(counts.completed, total, 'every job completed')
      const ids = Array.from({ length: total }, (_, n) => `recipient-${n}`)
      t.ok(ids.every((id) => effects.has(id)), 'every job ran to completion')
      t.equal(effectLog.length, total, 'each effect recorded once')
      t.ok([...hung].every((id) => starts.get(id) === 2), 'the jobs the dead worker held ran again, on the other worker')
      t.ok(finishedByFirst >= 6, `the first worker finished ${finishedByFirst} jobs before it died`)
    })
  }).then(() => undefined)
}
