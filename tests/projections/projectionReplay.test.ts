import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { activityFeed } from '../../projections/activityFeed.ts'
import { replayCheckpointName } from '../../projections/engine/projection.ts'
import { ProjectionEngine } from '../../projections/engine/projectionEngine.ts'
import { eventually } from '../support/eventually.ts'
import { expectRebuildEqualsLive } from '../support/projectionTables.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'

/**
 * Replays for backfills: a projection's next version is built beside the serving tables from
 * position 0 while writes and reads go on, then swapped in at once; a replay killed in the middle
 * resumes from its own checkpoint.
 */
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..', '..')

async function addContacts(app: FastifyInstance, session: Session, count: number, offset: number): Promise<void> {
  const rows = Array.from({ length: count }, (_, i) => ({ name: `Mteja ${offset + i}`, phone_e164: `+2557140${String(offset + i).padStart(5, '0')}` }))
  const response = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/bulk-import/', payload: rows }))
  if (response.statusCode !== 200) throw new Error(response.body)
}

t.test('a new version is built beside the serving tables and swapped in while writes and reads go on', async (t) => {
  const { app, services } = await startTestApp(t, { label: 'replay_swap' })
  const session = await registerUser(app)
  for (let i = 0; i < 40; i++) {
    const response = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `Single ${i}`, phone_e164: `+2557150${String(i).padStart(5, '0')}` } }))
    t.equal(response.statusCode, 201)
  }
  await addContacts(app, session, 300, 0)

  // new code: the activity feed's version goes up; its engine rebuilds it from position 0
  const next = { ...activityFeed, version: activityFeed.version + 1 }
  const engine = new ProjectionEngine({ db: services.database.db, store: services.store, batchSize: 7, pollIntervalMs: 50 })
  engine.register(next)
  await engine.prepare()
  t.teardown(() => engine.stop())
  t.match(engine.report()[0], { name: 'activity_feed', status: 'rebuilding' }, 'the old tables serve while the new ones are built')

  // writes and reads go on during the whole replay
  let stop = false
  const statuses: number[] = []
  let written = 0
  const writer = (async () => {
    while (!stop) {
      const response = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `During ${written}`, phone_e164: `+2557160${String(written).padStart(5, '0')}` } }))
      statuses.push(response.statusCode)
      written++
    }
  })()
  const reader = (async () => {
    while (!stop) {
      const response = await app.inject(as(session, { method: 'GET', url: '/api/messaging/activity/recent/?limit=5' }))
      statuses.push(response.statusCode)
      // a cached answer comes back without touching a socket: a loop of them would hold the
      // event loop and starve the replay's own database connections, which a real client never does
      await new Promise((resolve) => setImmediate(resolve))
    }
  })()

  engine.start()
  const replay = engine.activeReplay('activity_feed')!
  t.ok(replay, 'a replay runs for the new version')
  t.equal(await replay.done(), 'swapped')
  stop = true
  await Promise.all([writer, reader])

  t.ok(written > 0, `${written} contacts were added during the replay`)
  t.ok(statuses.every((status) => status === 200 || status === 201), `no request failed (${statuses.length} requests)`)
  const checkpoint = await services.database.db.selectFrom('projection_checkpoints').selectAll().where('name', '=', 'activity_feed').execute()
  t.same(checkpoint.map((row) => row.version), [next.version], 'the checkpoint moved to the new version')
  await eventually(async () => services.engine.report().find((r) => r.name === 'activity_feed')!.status, (status) => status === 'superseded')
  const head = await services.store.headPosition()
  t.ok(await engine.waitFor('activity_feed', head, 20_000), 'the new version goes on live')
  const total = await app.inject(as(session, { method: 'GET', url: `/api/messaging/activity/recent/?limit=1&min_position=${head}` }))
  t.equal(total.json().data.total_count, 40 + 1 + written, 'every single contact and the import group, none lost or doubled')

  // the swapped tables equal a fresh full fold
  await expectRebuildEqualsLive(t, { database: services.database, store: services.store, engine }, [next], { head, version: 77, batchSize: 50 })
})

t.test('a replay killed in the middle resumes from its checkpoint and ends with the same tables', async (t) => {
  const { app, services, database } = await startTestApp(t, { label: 'replay_resume' })
  const session = await registerUser(app)
  for (let i = 0; i < 300; i++) {
    const response = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `Single ${i}`, phone_e164: `+2557170${String(i).padStart(5, '0')}` } }))
    if (response.statusCode !== 201) throw new Error(response.body)
  }
  const db = services.database.db

  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'runReplay.ts'), 'activity_feed', '3'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: database.url },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const replayPosition = async () =>
    Number((await sql<{ position: number }>`select position from projection_checkpoints where name = ${replayCheckpointName('activity_feed')}`.execute(db)).rows[0]?.position ?? 0)
  await eventually(replayPosition, (position) => position > 0, 30_000)
  child.kill('SIGKILL')
  await once(child, 'exit')
  const killedAt = await replayPosition()
  const row = await db.selectFrom('projection_replays').selectAll().where('name', '=', 'activity_feed').executeTakeFirstOrThrow()
  t.equal(row.state, 'running', 'the killed replay is left running, to be resumed')
  t.ok(killedAt > 0, 'it had made progress')

  const engine = new ProjectionEngine({ db, store: services.store, batchSize: 50, pollIntervalMs: 50 })
  engine.register(activityFeed)
  await engine.prepare()
  t.teardown(() => engine.stop())
  const replay = await engine.replay('activity_feed', 'test')
  await eventually(async () => replay.progress().state, (state) => state !== 'pending')
  t.ok(replay.progress().done > 0, `resumed with ${replay.progress().done} events already done, not from position 0`)
  t.equal(await replay.done(), 'swapped')
  t.equal((await db.selectFrom('projection_replays').select('state').where('name', '=', 'activity_feed').executeTakeFirstOrThrow()).state, 'swapped')

  const head = await services.store.headPosition()
  t.ok(await services.engine.waitFor('activity_feed', head, 20_000), 'the serving runner goes on from the swapped checkpoint')
  await expectRebuildEqualsLive(t, services, [activityFeed], { head, version: 78, batchSize: 50 })
})
