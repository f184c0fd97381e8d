import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { spawnSync } from 'node:child_process'
import { openSqlDatabase } from '../../infra/database/sqlDatabase.ts'

/** Two openers of one embedded database folder would corrupt it: the second is refused. */
t.test('the embedded database folder is locked to one process', async (t) => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'mifumo-lock-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))

  // a lock held by a live process (the parent of this test runner is alive) refuses the opener
  writeFileSync(path.join(dataDir, 'mifumo.lock'), String(process.ppid))
  await t.rejects(openSqlDatabase({ databaseUrl: undefined, dataDir }), /in use by process/)

  // a lock left by a process that has exited is taken over
  const exited = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' })
  writeFileSync(path.join(dataDir, 'mifumo.lock'), exited.stdout.trim())
  const database = await openSqlDatabase({ databaseUrl: undefined, dataDir })
  t.equal(database.engine, 'pglite')
  await database.close()
})
