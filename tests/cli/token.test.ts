import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { loadConfig } from '../../infra/config.ts'
import { runScript } from '../support/scriptProcess.ts'
import { as, claimsOf, registerUser, TEST_JWT_SECRET } from '../support/testApp.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * `mifumo token` end to end: the CLI runs as its own process with the same environment as the
 * server, and the token it prints is accepted by the server.
 */

const mifumo = (args: string[], env: Record<string, string>) => runScript('cli.ts', args, env)

t.test('mifumo token', async (t) => {
  const database = await createTestDatabase('cli_token')
  // exactly what the CLI process gets, plus a quiet logger for the in-test server
  const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET }
  const services = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent' }))
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
    await database.drop()
  })
  const session = await registerUser(app, { first_name: 'Neema', last_name: 'Mushi' })
  const other = await registerUser(app)

  const createContactWith = (token: string, phone: string) =>
    app.inject({ method: 'POST', url: '/api/messaging/contacts/', headers: { authorization: `Bearer ${token}` }, payload: { name: 'From the CLI', phone_e164: phone } })

  t.test('--json prints a working token pair for the first tenant', async (t) => {
    const result = await mifumo(['token', '--user', session.userId, '--json'], env)
    t.equal(result.code, 0, result.stderr)
    const output = JSON.parse(result.stdout)
    t.same(Object.keys(output).sort(), ['access', 'expires_in', 'refresh', 'role', 'tenant_id', 'user_id'])
    t.match(output, { user_id: session.userId, tenant_id: session.tenantId, role: 'admin', expires_in: 900 })
    t.match(claimsOf(output.access), { sub: session.userId, tid: session.tenantId, role: 'admin', name: 'Neema Mushi', typ: 'access' })

    const created = await createContactWith(output.access, '+255712500001')
    t.equal(created.statusCode, 201, created.body)
    t.equal(created.json().data.name, 'From the CLI')

    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: output.refresh } })
    t.equal(refreshed.statusCode, 200, 'the refresh token is accepted too')

    const notAccess = await createContactWith(output.refresh, '+255712500002')
    t.equal(notAccess.statusCode, 401, 'the refresh token is not an access token')
  })

  t.test('plain output, --tenant and --ttl', async (t) => {
    const result = await mifumo(['token', '--user', session.userId, '--tenant', session.tenantId, '--ttl', '1h'], env)
    t.equal(result.code, 0, result.stderr)
    const lines = result.stdout.trim().split('\n')
    t.equal(lines.length, 1, 'only the access token on stdout')
    const claims = claimsOf(lines[0]!) as { iat: number; exp: number; tid: string }
    t.equal(claims.exp - claims.iat, 3600)
    t.equal(claims.tid, session.tenantId)
    const created = await createContactWith(lines[0]!, '+255712500003')
    t.equal(created.statusCode, 201, created.body)
  })

  t.test('refusals', async (t) => {
    const [foreignTenant, unknownUser, noSecret, shortSecret, badTtl, noUser] = await Promise.all([
      mifumo(['token', '--user', session.userId, '--tenant', other.tenantId], env),
      mifumo(['token', '--user', '7b0e0a43-27a4-4b8f-9f8e-3f6b1d2c9a51'], env),
      mifumo(['token', '--user', session.userId], { DATABASE_URL: database.url }),
      mifumo(['token', '--user', session.userId], { DATABASE_URL: database.url, JWT_SECRET: 'short' }),
      mifumo(['token', '--user', session.userId, '--ttl', 'forever'], env),
      mifumo(['token'], env),
    ])

    t.equal(foreignTenant.code, 1)
    t.equal(foreignTenant.stdout, '', 'no token printed')
    t.match(foreignTenant.stderr, `is not a member of tenant ${other.tenantId}`)
    t.match(foreignTenant.stderr, session.tenantId, 'names the tenants the user has')

    t.equal(unknownUser.code, 1)
    t.equal(unknownUser.stdout, '')
    t.match(unknownUser.stderr, 'no active user with id 7b0e0a43-27a4-4b8f-9f8e-3f6b1d2c9a51')

    t.equal(noSecret.code, 1)
    t.equal(noSecret.stdout, '')
    t.match(noSecret.stderr, 'JWT_SECRET is not set')

    t.equal(shortSecret.code, 1)
    t.match(shortSecret.stderr, 'JWT_SECRET must be at least 32 characters')

    t.equal(badTtl.code, 2)
    t.match(badTtl.stderr, '--ttl must be a duration')

    t.equal(noUser.code, 2)
    t.match(noUser.stderr, 'token needs --user')
  })

  t.test("another user's token acts in that user's own tenant", async (t) => {
    const result = await mifumo(['token', '--user', other.userId, '--json'], env)
    t.equal(result.code, 0, result.stderr)
    const output = JSON.parse(result.stdout)
    t.equal(output.tenant_id, other.tenantId)
    const created = await createContactWith(output.access, '+255712500001')
    t.equal(created.statusCode, 201, 'the same phone is a new contact in the other tenant')
    const inFirst = await app.inject(as(session, { method: 'POST', url: '/api/messaging/contacts/', payload: { phone_e164: '+255712500001' } }))
    t.equal(inFirst.statusCode, 200)
    t.not(inFirst.json().data.id, created.json().data.id)
  })
})

t.test('mifumo help and unknown commands', async (t) => {
  const [help, helpFlag, unknown, replayWithoutNames] = await Promise.all([
    mifumo(['help'], {}),
    mifumo(['--help'], {}),
    mifumo(['frobnicate'], {}),
    mifumo(['replay'], {}),
  ])
  t.equal(help.code, 0)
  for (const word of ['serve', 'token', 'worker', 'replay', 'projections', 'streams', 'jobs', 'credits', 'admin']) t.match(help.stdout, word)
  t.equal(helpFlag.code, 0)
  t.equal(helpFlag.stdout, help.stdout)

  t.equal(unknown.code, 2)
  t.equal(unknown.stdout, '')
  t.match(unknown.stderr, 'unknown command "frobnicate"')
  t.match(unknown.stderr, 'Usage: mifumo')

  t.equal(replayWithoutNames.code, 2, 'replay without projections is a command-line error')
  t.match(replayWithoutNames.stderr, 'name the projections to replay, or give --all')
})
