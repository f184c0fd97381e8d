import t from 'tap'
import { activityFeed } from '../../projections/activityFeed.ts'
import { redisUrl } from '../support/testDatabase.ts'
import { runScript } from '../support/scriptProcess.ts'
import { as, registerUser, startTestApp, TEST_JWT_SECRET } from '../support/testApp.ts'

/**
 * `mifumo projections` and `mifumo replay`, end to end through the CLI process: without Redis the
 * replay runs in the CLI; with Redis it is a job a worker (here: the test's service) runs, and
 * the CLI follows it. Piped, both print JSON lines.
 */
t.test('projections and replay through the command line', async (t) => {
  const { app, services, database } = await startTestApp(t, { label: 'cli_replay' })
  const session = await registerUser(app)
  for (let i = 0; i < 25; i++) {
    await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `C ${i}`, phone_e164: `+2557190${String(i).padStart(5, '0')}` } }))
  }
  await services.engine.waitForAll(await services.store.headPosition(), 20_000)
  const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent' }

  const status = await runScript('cli.ts', ['projections', '--json'], env)
  t.equal(status.code, 0, status.stderr)
  const lines = status.stdout.trim().split('\n').map((line) => JSON.parse(line))
  t.same(lines.map((line) => line.name).sort(), services.engine.names().filter((name) => services.engine.projection(name)).sort(), 'one line per projection')
  t.match(lines.find((line) => line.name === 'activity_feed'), { code_version: activityFeed.version, state: 'live', lag_events: 0 })

  const replayed = await runScript('cli.ts', ['replay', 'activity_feed', '--json'], env)
  t.equal(replayed.code, 0, replayed.stderr)
  const progress = replayed.stdout.trim().split('\n').map((line) => JSON.parse(line))
  t.ok(progress.length >= 1, 'progress lines were printed')
  t.match(progress.at(-1), { name: 'activity_feed', state: 'swapped', percent: 100 })
  const recent = await app.inject(as(session, { method: 'GET', url: '/api/messaging/activity/recent/?limit=1' }))
  t.equal(recent.json().data.total_count, 25, 'the rebuilt feed still serves every activity')

  const bad = await runScript('cli.ts', ['replay', 'no_such_projection'], env)
  t.equal(bad.code, 2)
  t.match(bad.stderr, 'no projection named no_such_projection')
  const nothingToCancel = await runScript('cli.ts', ['replay', '--cancel', 'activity_feed'], env)
  t.equal(nothingToCancel.code, 1)
  t.match(nothingToCancel.stdout, 'no replay under way')
})

t.test('with Redis the replay is a job that a worker runs, and the command follows it', async (t) => {
  const { app, services, database } = await startTestApp(t, { label: 'cli_replay_job', env: { REDIS_URL: redisUrl, DELIVERY_WORKERS: 'true' } })
  const session = await registerUser(app)
  for (let i = 0; i < 10; i++) {
    await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { name: `J ${i}`, phone_e164: `+2557191${String(i).padStart(5, '0')}` } }))
  }
  const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', REDIS_URL: redisUrl, QUEUE_PREFIX: services.config.queue.prefix }
  const replayed = await runScript('cli.ts', ['replay', 'activity_feed', '--json'], env)
  t.equal(replayed.code, 0, replayed.stderr)
  t.match(JSON.parse(replayed.stdout.trim().split('\n').at(-1)!), { name: 'activity_feed', state: 'swapped' })
  const row = await services.database.db.selectFrom('projection_replays').selectAll().where('name', '=', 'activity_feed').executeTakeFirstOrThrow()
  t.equal(row.requested_by, 'mifumo replay')
})
