import t from 'tap'
import { buildApp, openServices } from '../../app.ts'
import { loadConfig } from '../../infra/config.ts'
import { runScript } from '../support/scriptProcess.ts'
import { as, registerUser, TEST_JWT_SECRET } from '../support/testApp.ts'
import { createTestDatabase } from '../support/testDatabase.ts'

/** `mifumo credits`: a tenant's SMS balance, and a top-up by the system, from its own process. */
const mifumo = (args: string[], env: Record<string, string>) => runScript('cli.ts', args, env)

t.test('mifumo credits', async (t) => {
  const database = await createTestDatabase('cli_credits')
  const env = { DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET }
  const services = await openServices(loadConfig({ ...env, LOG_LEVEL: 'silent', DELIVERY_WORKERS: 'false' }))
  const app = await buildApp(services)
  t.teardown(async () => {
    await app.close()
    await services.close()
    await database.drop()
  })
  const session = await registerUser(app, { tenant_name: 'Kahawa Ltd' })
  const balance = async () => (await app.inject(as(session, { method: 'GET', url: '/api/messaging/sms/balance/' }))).json().data

  const shown = await mifumo(['credits', '--tenant', session.tenantId], env)
  t.equal(shown.code, 0, shown.stderr)
  t.match(shown.stdout, `Tenant: Kahawa Ltd (${session.tenantId})`)
  t.match(shown.stdout, 'Balance: 100 SMS parts available')
  t.notMatch(shown.stdout, 'Added')

  const added = await mifumo(['credits', '--tenant', session.tenantId, '--add', '500', '--reason', 'Invoice 42', '--json'], env)
  t.equal(added.code, 0, added.stderr)
  const output = JSON.parse(added.stdout)
  t.match(output, { tenant_id: session.tenantId, tenant_name: 'Kahawa Ltd', added: 500, available_parts: 600, included_allowance: 100, included_used: 0, purchased: 500 })
  t.match(await balance(), { purchased_parts: 500 }, 'the server sees the purchase')

  const plain = await mifumo(['credits', '--tenant', session.tenantId, '--add', '25'], env)
  t.equal(plain.code, 0, plain.stderr)
  t.match(plain.stdout, 'Added: 25 SMS parts (Added by an operator (mifumo credits))')
  t.match(plain.stdout, 'Balance: 625 SMS parts available')

  const [noTenant, badTenant, unknownTenant, badAdd, zero, reasonAlone] = await Promise.all([
    mifumo(['credits'], env),
    mifumo(['credits', '--tenant', 'acme'], env),
    mifumo(['credits', '--tenant', '7b0e0a43-27a4-4b8f-9f8e-3f6b1d2c9a51'], env),
    mifumo(['credits', '--tenant', session.tenantId, '--add', 'lots'], env),
    mifumo(['credits', '--tenant', session.tenantId, '--add', '0'], env),
    mifumo(['credits', '--tenant', session.tenantId, '--reason', 'why'], env),
  ])
  t.equal(noTenant.code, 2)
  t.match(noTenant.stderr, 'credits needs --tenant')
  t.equal(badTenant.code, 2)
  t.equal(unknownTenant.code, 1)
  t.match(unknownTenant.stderr, 'no tenant with id 7b0e0a43-27a4-4b8f-9f8e-3f6b1d2c9a51')
  t.equal(badAdd.code, 2)
  t.equal(zero.code, 2)
  t.match(zero.stderr, '--add must be a whole number')
  t.equal(reasonAlone.code, 2)
  t.match((await mifumo(['credits', '--tenant', session.tenantId], env)).stdout, 'Balance: 625 SMS parts available', 'the refusals changed nothing')
})
