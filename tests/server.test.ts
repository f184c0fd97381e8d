import type { ChildProcess } from 'node:child_process'
import { EventEmitter } from 'node:events'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import t from 'tap'
import { loadConfig } from '../infra/config.ts'
import { exitOnSignals, serverTimeouts, startServer } from '../server.ts'
import { runScript } from './support/scriptProcess.ts'
import { TEST_JWT_SECRET } from './support/testApp.ts'
import { createTestDatabase } from './support/testDatabase.ts'

const silent = pino({ level: 'silent' })

t.test('startServer listens, sets its timeouts, and stops after the request in flight', async (t) => {
  const database = await createTestDatabase('server')
  t.teardown(() => database.drop())
  const config = loadConfig({ DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'silent', PORT: '0', RUN_PROJECTIONS: 'false' })
  const server = await startServer(config, { logger: silent })
  t.teardown(() => server.stop())

  t.match(server.address, /^http:\/\/127\.0\.0\.1:\d+$/)
  const health = await fetch(`${server.address}/health`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })

  t.equal(server.app.server.requestTimeout, serverTimeouts.requestTimeout)
  t.equal(server.app.server.headersTimeout, serverTimeouts.headersTimeout)
  t.equal(server.app.server.keepAliveTimeout, serverTimeouts.keepAliveTimeout)
  t.equal(server.app.server.timeout, serverTimeouts.connectionTimeout)

  // a registration whose body is still arriving when the shutdown begins
  const body = JSON.stringify({ email: 'inflight@example.com', password: 'correct horse battery', first_name: 'In', last_name: 'Flight' })
  const url = new URL('/api/auth/register/', server.address)
  const answer = new Promise<{ status: number; body: string; connection: string | undefined }>((resolve, reject) => {
    const request = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (response) => {
      let text = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (text += chunk))
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text, connection: response.headers.connection }))
    })
    request.on('error', reject)
    request.write(body.slice(0, 20))
    setTimeout(() => request.end(body.slice(20)), 300)
  })
  await sleep(100)
  let stopped = false
  const stopping = server.stop().then(() => (stopped = true))
  await sleep(50)
  await t.rejects(fetch(`${server.address}/health`), 'no new connections once stopping')
  t.equal(stopped, false, 'still waiting for the request in flight')

  const response = await answer
  t.equal(response.status, 201, response.body)
  t.equal(response.connection, 'close', 'the answer closes its connection, so no idle socket holds the shutdown')
  await stopping
  t.equal(stopped, true)
  await t.rejects(server.services.database.db.selectNoFrom((eb) => eb.val(1).as('one')).execute(), 'the database is closed after the server')
  await server.stop()
  t.pass('stop twice is fine')
})

t.test('exitOnSignals: graceful exit 0, a second signal or the grace period exits 1', async (t) => {
  const exits: number[] = []
  const exit = (code: number) => exits.push(code)

  {
    const signals = new EventEmitter()
    let stops = 0
    exitOnSignals({ stop: async () => void stops++ }, silent, { signals, exit })
    signals.emit('SIGTERM', 'SIGTERM')
    await sleep(10)
    t.same(exits.splice(0), [0], 'SIGTERM: stopped, exit 0')
    t.equal(stops, 1)
  }
  {
    const signals = new EventEmitter()
    exitOnSignals({ stop: () => new Promise<void>(() => undefined) }, silent, { signals, exit, graceMs: 5_000 })
    signals.emit('SIGINT', 'SIGINT')
    signals.emit('SIGINT', 'SIGINT')
    t.same(exits.splice(0), [1], 'a second signal exits 1 at once')
  }
  {
    const signals = new EventEmitter()
    exitOnSignals({ stop: () => new Promise<void>(() => undefined) }, silent, { signals, exit, graceMs: 50 })
    signals.emit('SIGTERM', 'SIGTERM')
    await sleep(150)
    t.same(exits.splice(0), [1], 'a shutdown longer than the grace period exits 1')
  }
  {
    const signals = new EventEmitter()
    exitOnSignals({ stop: async () => Promise.reject(new Error('boom')) }, silent, { signals, exit })
    signals.emit('SIGTERM', 'SIGTERM')
    await sleep(10)
    t.same(exits.splice(0), [1], 'a failed shutdown exits 1')
  }
  {
    const signals = new EventEmitter()
    const remove = exitOnSignals({ stop: async () => undefined }, silent, { signals, exit })
    remove()
    t.equal(signals.listenerCount('SIGTERM') + signals.listenerCount('SIGINT'), 0, 'handlers can be removed')
  }
})

const runServerProcess = (env: Record<string, string>, onLine?: (line: string, child: ChildProcess) => void) => runScript('server.ts', [], env, onLine)

t.test('server.ts as a process: serves, then exits 0 on SIGTERM', async (t) => {
  const database = await createTestDatabase('server_process')
  t.teardown(() => database.drop())
  let health: number | undefined
  const result = await runServerProcess({ DATABASE_URL: database.url, JWT_SECRET: TEST_JWT_SECRET, PORT: '0', LOG_LEVEL: 'info' }, (line, child) => {
    const address = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line)?.[1]
    if (!address) return
    fetch(`${address}/health`)
      .then((response) => (health = response.status))
      .finally(() => child.kill('SIGTERM'))
  })
  t.equal(health, 200, 'served /health')
  t.equal(result.code, 0, `exit code 0 (${result.stderr})`)
  t.match(result.stdout, /"signal":"SIGTERM"/)
  t.match(result.stdout, /"msg":"stopped"/)
  t.notMatch(result.stdout, /JWT_SECRET is not set/, 'no warning with a secret')
})

t.test('server.ts as a process: a bad configuration exits 1 with the reason', async (t) => {
  const result = await runServerProcess({ JWT_SECRET: 'too-short', LOG_LEVEL: 'silent' })
  t.equal(result.code, 1)
  t.equal(result.stderr.trim(), 'mifumo: configuration error: JWT_SECRET must be at least 32 characters')

  const badPort = await runServerProcess({ PORT: 'eighty', LOG_LEVEL: 'silent' })
  t.equal(badPort.code, 1)
  t.match(badPort.stderr, /PORT must be an integer/)
})

t.test('server.ts as a process: an unreachable database exits 1', async (t) => {
  const result = await runServerProcess({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', JWT_SECRET: TEST_JWT_SECRET, LOG_LEVEL: 'info' })
  t.equal(result.code, 1)
  t.match(result.stdout, /the server could not start/)
})
