import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { loadConfig } from '../../infra/config.ts'
import { adminCommand } from '../../infra/ops/adminCommand.ts'
import { runScript } from '../support/scriptProcess.ts'
import { claimsOf, registerUser, TEST_JWT_SECRET } from '../support/testApp.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/**
 * `mifumo admin grant|revoke|list`: platform administrators are made by operators on the command
 * line; the flag reaches the user's tokens at the next sign-in or refresh, and `mifumo token`.
 * The finer variations run the same command in this process (each process costs seconds).
 */

const mifumo = (args: string[], env: Record<string, string>) => runScript('cli.ts', args, env)

t.test('mifumo admin', async (t) => {
  const database = await createTestDatabase('cli_admin')
  const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET }
  const services = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent', DELIVERY_WORKERS: 'false', RATE_LIMITS_ENABLED: 'false' }))
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
    await database.drop()
  })
  /** the command as cli.ts runs it, in this process, its output captured */
  const admin = async (args: string[]) => {
    let stdout = ''
    let stderr = ''
    const code = await adminCommand(args, { stdout: (text) => void (stdout += text), stderr: (text) => void (stderr += text), env, isTTY: false, openServices })
    return { code, stdout, stderr }
  }
  const email = `ops-${Date.now()}@example.com`
  const ops = await registerUser(app, { email, first_name: 'Ops' })
  const other = await registerUser(app)
  const login = async () => {
    const response = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email, password: 'correct horse battery' } })
    t.equal(response.statusCode, 200)
    return response.json().data as { access: string; refresh: string }
  }
  const categories = (access: string) => app.inject({ method: 'GET', url: '/api/admin/streams/categories/', headers: { authorization: `Bearer ${access}` } })

  t.test('grant, list, token, revoke', async (t) => {
    const before = await login()
    t.equal((await categories(before.access)).statusCode, 403, 'not an administrator yet')

    const granted = await mifumo(['admin', 'grant', '--email', email.toUpperCase()], env)
    t.equal(granted.code, 0, granted.stderr)
    t.same(JSON.parse(granted.stdout), { email, user_id: ops.userId, platform_admin: true, changed: true }, 'piped: one JSON line')

    const again = await admin(['grant', '--email', email, '--table'])
    t.equal(again.code, 0, again.stderr)
    t.match(again.stdout, `${email} (${ops.userId}) is already a platform administrator.`)

    const list = await mifumo(['admin', 'list'], env)
    t.equal(list.code, 0, list.stderr)
    const rows = list.stdout.trim().split('\n').map((line) => JSON.parse(line))
    t.same(rows.map((row: { email: string; user_id: string }) => [row.email, row.user_id]), [[email, ops.userId]])
    const table = await admin(['list', '--table'])
    t.match(table.stdout, /^EMAIL\s+USER ID\s+REGISTERED AT\n/)
    t.match(table.stdout, email)

    // the old token has no padm; a new sign-in, a refresh and `mifumo token` all carry it
    t.equal((await categories(before.access)).statusCode, 403)
    const after = await login()
    t.equal(claimsOf(after.access).padm, true)
    t.equal((await categories(after.access)).statusCode, 200)
    const refreshed = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: before.refresh } })
    t.equal(claimsOf(refreshed.json().data.access).padm, true, 'a refresh reads the flag again')
    const token = await mifumo(['token', '--user', ops.userId], env)
    t.equal(token.code, 0, token.stderr)
    t.equal(claimsOf(token.stdout.trim()).padm, true, 'mifumo token carries it')
    t.equal((await categories(token.stdout.trim())).statusCode, 200)
    const otherToken = await mifumo(['token', '--user', other.userId], env)
    t.equal(claimsOf(otherToken.stdout.trim()).padm, undefined, 'another user has none')

    const revoked = await mifumo(['admin', 'revoke', '--email', email, '--table'], env)
    t.equal(revoked.code, 0, revoked.stderr)
    t.match(revoked.stdout, 'is no longer a platform administrator')
    const dropped = await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: after.refresh } })
    t.equal(claimsOf(dropped.json().data.access).padm, undefined, 'the next refresh drops it')
    t.equal((await categories(dropped.json().data.access)).statusCode, 403)
    const empty = await admin(['list'])
    t.equal(empty.stdout, '', 'nobody left')
    const revokedAgain = await admin(['revoke', '--email', email])
    t.match(JSON.parse(revokedAgain.stdout), { platform_admin: false, changed: false })
  })

  t.test('refusals', async (t) => {
    const [unknown, noEmail] = await Promise.all([mifumo(['admin', 'grant', '--email', 'nobody@example.com'], env), mifumo(['admin', 'grant'], env)])
    const badEmail = await admin(['revoke', '--email', 'not an email'])
    const badAction = await admin(['promote', '--email', email])
    const listEmail = await admin(['list', '--email', email])
    const help = await admin(['help'])
    t.equal(unknown.code, 1)
    t.equal(unknown.stdout, '')
    t.match(unknown.stderr, 'no user with email nobody@example.com')
    t.equal(noEmail.code, 2)
    t.match(noEmail.stderr, 'admin grant needs --email')
    t.match(noEmail.stderr, 'Usage: mifumo admin')
    t.equal(badEmail.code, 2)
    t.match(badEmail.stderr, '--email must be an email address')
    t.equal(badAction.code, 2)
    t.match(badAction.stderr, 'admin takes grant, revoke or list')
    t.equal(listEmail.code, 2)
    t.equal(help.code, 0)
    t.match(help.stdout, 'mifumo admin <command>')
  })
})
