import t from 'tap'
import { runScript } from '../support/scriptProcess.ts'
import { createTestDatabase, redisUrl } from '../support/testDatabase.ts'

/**
 * `mifumo worker` as its own process: it opens the services without the HTTP server, says when it
 * is ready, and stops gracefully on SIGTERM (exit 0).
 */

const mifumo = (args: string[], env: Record<string, string>, onLine?: Parameters<typeof runScript>[3]) => runScript('cli.ts', args, env, onLine)

t.test('mifumo worker', async (t) => {
  const database = await createTestDatabase('cli_worker')
  t.teardown(() => database.drop())
  const env = { DATABASE_URL: database.url, REDIS_URL: redisUrl }

  t.test('runs until SIGTERM, then stops gracefully and exits 0', async (t) => {
    let readyAt = 0
    const result = await mifumo(['worker'], env, (line, child) => {
      if (!readyAt && line.includes('worker ready')) {
        readyAt = Date.now()
        child.kill('SIGTERM')
      }
    })
    t.ok(readyAt > 0, `it said it was ready; stdout: ${result.stdout.slice(0, 2000)}; stderr: ${result.stderr.slice(0, 2000)}`)
    t.equal(result.code, 0, result.stderr)
    const messages = result.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => (JSON.parse(line) as { msg?: string }).msg ?? '')
    const ready = messages.findIndex((msg) => msg.includes('worker ready'))
    const shuttingDown = messages.findIndex((msg) => msg.startsWith('shutting down'))
    const stopped = messages.lastIndexOf('stopped')
    t.ok(ready >= 0 && shuttingDown > ready && stopped > shuttingDown, `ready, then shutting down, then stopped: ${JSON.stringify(messages)}`)
    t.notMatch(result.stdout, /listening/i, 'no HTTP server')
  })

  t.test('SIGINT stops it too', async (t) => {
    const result = await mifumo(['worker'], env, (line, child) => {
      if (line.includes('worker ready')) child.kill('SIGINT')
    })
    t.equal(result.code, 0, result.stderr)
    t.match(result.stdout, '"msg":"stopped"')
  })

  t.test('needs REDIS_URL', async (t) => {
    const result = await mifumo(['worker'], { DATABASE_URL: database.url })
    t.equal(result.code, 1)
    t.match(result.stderr, 'REDIS_URL is not set')
  })

  t.test('the help lists it', async (t) => {
    const result = await mifumo(['help'], {})
    t.equal(result.code, 0)
    t.match(result.stdout, /^\s+worker\s+Run the delivery workers/m)
    t.notMatch(result.stdout, /Not available yet[\s\S]*worker/, 'no longer announced as coming')
    const unknownOption = await mifumo(['worker', '--bogus'], env)
    t.equal(unknownOption.code, 2, 'a wrong option is a usage error')
  })
})
