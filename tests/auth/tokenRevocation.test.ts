import t from 'tap'
import { CredentialVersionCache, replacePassword } from '../../infra/auth/credentialStore.ts'
import { ManualClock } from '../../infra/clock.ts'
import { registerUser, startTestApp } from '../support/testApp.ts'

t.test('credential versions: cached for seconds, never stale for longer', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'auth_revocation', clock })
  const db = services.database.db
  const session = await registerUser(app, { first_name: 'Rehema' })
  const cache = new CredentialVersionCache(db, () => clock.now().getTime(), { ttlMs: 10_000 })

  t.equal(await cache.current(session.userId), 0)
  t.equal(await cache.current('3f8a2c1e-4b5d-4e6f-8a7b-9c0d1e2f3a4b'), null, 'no credentials, no version')

  // another process changes the password: this one sees it when its entry is older than the TTL
  t.equal(await replacePassword(db, session.userId, 'scrypt$1$1$1$x$y', clock.now()), 1)
  t.equal(await cache.current(session.userId), 0, 'within the TTL the cached version answers (no database round trip)')
  clock.advance(10_000)
  t.equal(await cache.current(session.userId), 1, 'after it, the database does')

  // a change made by this process is remembered at once
  cache.remember(session.userId, 2)
  t.equal(await cache.current(session.userId), 2)

  // the replacement is conditional on the hash the old password was checked against
  t.equal(await replacePassword(db, session.userId, 'scrypt$1$1$1$x$z', clock.now(), 'not the stored hash'), null)
  t.equal(await replacePassword(db, session.userId, 'scrypt$1$1$1$x$z', clock.now(), 'scrypt$1$1$1$x$y'), 2)
})

t.test('a server that did not see the change refuses old tokens within the TTL', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const { app, services } = await startTestApp(t, { label: 'auth_revocation_2', clock })
  const session = await registerUser(app, { first_name: 'Imani' })
  const profile = () => app.inject({ method: 'GET', url: '/api/auth/profile/', headers: session.headers })
  t.equal((await profile()).statusCode, 200, 'the version is cached now')
  // the change lands in the database through another process
  await replacePassword(services.database.db, session.userId, 'scrypt$1$1$1$x$y', clock.now())
  clock.advance(10_001)
  const refused = await profile()
  t.equal(refused.statusCode, 401)
  t.same(refused.json(), { detail: 'Authentication credentials were not provided.' })
  const refresh = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: session.refresh } })
  t.equal(refresh.statusCode, 401, 'refresh tokens are checked against the database itself')
})

t.test('authentication endpoints are in the auth rate-limit group', async (t) => {
  const { app } = await startTestApp(t, { label: 'auth_rate_limit', env: { RATE_LIMITS_ENABLED: 'true' } })
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    const response = await app.inject({ method: 'POST', url: '/api/auth/password/reset/', payload: { email: 'someone@example.com' } })
    statuses.push(response.statusCode)
  }
  t.same(statuses, [200, 200, 200, 200, 200, 429], '5 per minute')
})
