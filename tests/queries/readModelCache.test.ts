import t from 'tap'
import { commitPayload, parseCommitPayload } from '../../projections/engine/commitNotifications.ts'
import { tenantsOfBatch } from '../../projections/engine/subscriberRunner.ts'
import type { RecordedEvent } from '../../infra/eventStore/eventStore.ts'
import { nextQuarterHour, ReadModelCache } from '../../queries/readModelCache.ts'

/**
 * The dashboard's answers are kept until the projection under them commits a change for their
 * tenant (or a change of unknown tenant), until the time they depend on moves on, and never
 * across a read-your-writes position the cache has not heard of.
 */
const A = 'tenant-a'
const B = 'tenant-b'

function counter(cache: ReadModelCache, tenantId: string, options: { minPosition?: number; at?: number; validUntil?: number } = {}) {
  let computed = 0
  const ask = () =>
    cache.answer({ projections: ['activity_feed'], tenantId, key: 'recent 10', minPosition: options.minPosition, at: options.at ?? 1000 }, async () => {
      computed++
      return { value: `${tenantId}:${computed}`, validUntil: options.validUntil ?? Infinity }
    })
  return { ask, computed: () => computed }
}

t.test('kept until its projection commits a change for its tenant', async (t) => {
  const cache = new ReadModelCache()
  const a = counter(cache, A)
  const b = counter(cache, B)
  t.equal(await a.ask(), `${A}:1`)
  t.equal(await a.ask(), `${A}:1`, 'the second ask is answered from memory')
  t.equal(await b.ask(), `${B}:1`)
  cache.committed('activity_feed', 10, [A])
  t.equal(await a.ask(), `${A}:2`, "a commit for the tenant: computed again")
  t.equal(await b.ask(), `${B}:1`, "another tenant's answer stays")
  cache.committed('performance_overview', 11, null)
  t.equal(await b.ask(), `${B}:1`, "another projection's commit changes nothing")
  cache.committed('activity_feed', 12, null)
  t.equal(await b.ask(), `${B}:2`, 'a commit of unknown tenant: every tenant computes again')
})

t.test('an answer computed while a commit is heard is not kept', async (t) => {
  const cache = new ReadModelCache()
  let computed = 0
  const ask = () =>
    cache.answer({ projections: ['activity_feed'], tenantId: A, key: 'k', at: 0 }, async () => {
      computed++
      if (computed === 1) cache.committed('activity_feed', 5, [A])
      return { value: computed, validUntil: Infinity }
    })
  t.equal(await ask(), 1)
  t.equal(await ask(), 2, 'the first answer may predate the commit: computed again')
  t.equal(await ask(), 2)
})

t.test('requests that miss together share one computation', async (t) => {
  const cache = new ReadModelCache()
  const a = counter(cache, A)
  const answers = await Promise.all([a.ask(), a.ask(), a.ask()])
  t.same(answers, [`${A}:1`, `${A}:1`, `${A}:1`])
  t.equal(a.computed(), 1)
})

t.test('time-bound answers', async (t) => {
  const cache = new ReadModelCache()
  let computed = 0
  const ask = (at: number) =>
    cache.answer({ projections: ['activity_statistics'], tenantId: A, key: 'statistics', at }, async () => {
      computed++
      return { value: computed, validUntil: 2000 }
    })
  t.equal(await ask(1000), 1)
  t.equal(await ask(1999), 1)
  t.equal(await ask(2000), 2, 'at its validUntil it is computed again')
  t.equal(await ask(1500), 3, 'a clock set back does not reuse an answer asked for later')
  t.equal(nextQuarterHour(Date.UTC(2026, 2, 10, 9, 7)), Date.UTC(2026, 2, 10, 9, 15))
  t.equal(nextQuarterHour(Date.UTC(2026, 2, 10, 9, 15)), Date.UTC(2026, 2, 10, 9, 30))
})

t.test('read-your-writes: a position not heard of yet goes to the database', async (t) => {
  const cache = new ReadModelCache()
  const plain = counter(cache, A)
  await plain.ask()
  const ahead = counter(cache, A, { minPosition: 50 })
  t.equal(await ahead.ask(), `${A}:1`, 'computed (not the kept answer)')
  t.equal(ahead.computed(), 1)
  cache.committed('activity_feed', 60, [B])
  const caughtUp = counter(cache, A, { minPosition: 50 })
  t.equal(await caughtUp.ask(), `${A}:1`, 'once the projection is heard past it, the kept answer serves')
  t.equal(caughtUp.computed(), 0)
})

t.test('bounded', async (t) => {
  const cache = new ReadModelCache({ maxEntries: 2 })
  for (const tenant of ['t1', 't2', 't3']) await counter(cache, tenant).ask()
  t.equal(cache.size, 2)
  t.equal(cache.cached('t1', 'recent 10', 1000), undefined, 'the oldest went first')
  t.equal(cache.cached('t2', 'recent 10', 1000), 't2:1', 'read: it gets a second chance')
  await counter(cache, 't4').ask()
  t.equal(cache.size, 2)
  t.equal(cache.cached('t3', 'recent 10', 1000), undefined, 'the oldest not read since went instead')
  t.equal(cache.cached('t2', 'recent 10', 1000), 't2:1')
  t.equal(cache.cached('t4', 'recent 10', 1000), 't4:1')
})

t.test('commit notices name the tenants a batch touched', async (t) => {
  const event = (data: unknown) => ({ data }) as RecordedEvent
  t.same(tenantsOfBatch([event({ tenantId: A }), event({ tenantId: B }), event({ tenantId: A })]), [A, B])
  t.equal(tenantsOfBatch([event({ tenantId: A }), event({ userId: 'u' })]), null, 'an event without a tenant: unknown')
  t.equal(commitPayload('activity_feed', 12, null), 'activity_feed:12')
  t.equal(commitPayload('activity_feed', 12, [A, B]), `activity_feed:12:${A},${B}`)
  t.same(parseCommitPayload(`activity_feed:12:${A},${B}`), { name: 'activity_feed', position: 12, tenants: [A, B] })
  t.same(parseCommitPayload('activity_feed:12'), { name: 'activity_feed', position: 12 })
})

t.test('cached: the answer in memory without computing, under the same rules as answer', async (t) => {
  let now = 0
  const cache = new ReadModelCache({ maxAgeMs: 30_000, now: () => now })
  t.equal(cache.cached(A, 'recent 10', 1000), undefined, 'nothing before the first computation')
  await counter(cache, A, { validUntil: 5000 }).ask()
  t.equal(cache.cached(A, 'recent 10', 1000), `${A}:1`)
  t.equal(cache.cached(B, 'recent 10', 1000), undefined, "another tenant's key is another answer")
  t.equal(cache.cached(A, 'recent 20', 1000), undefined, 'another query is another answer')
  t.equal(cache.cached(A, 'recent 10', 999), undefined, 'a clock set back does not reuse it')
  t.equal(cache.cached(A, 'recent 10', 5000), undefined, 'not once it stops holding')
  cache.committed('activity_feed', 3, [B])
  t.equal(cache.cached(A, 'recent 10', 1000), `${A}:1`, "another tenant's commit changes nothing")
  now = 30_000
  t.equal(cache.cached(A, 'recent 10', 1000), undefined, 'not beyond the maximum age')
  now = 0
  cache.committed('activity_feed', 4, [A])
  t.equal(cache.cached(A, 'recent 10', 1000), undefined, "not after a commit for its tenant")
  const hitsBefore = cache.hits
  await counter(cache, A).ask()
  t.equal(cache.cached(A, 'recent 10', 1000), `${A}:1`, 'computed again, then cached')
  t.equal(cache.hits, hitsBefore + 1, 'a hit is counted')
})
