// Runs the tap suite, passing its output through, and ends with one plain line that any CI log
// reader understands: "N passed, N failed, N skipped" (assertions, as tap counts them).
import { spawn } from 'node:child_process'

const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx'
const child = spawn(npx, ['tap', ...process.argv.slice(2)], { stdio: ['ignore', 'pipe', 'inherit'] })
let summary = ''
let pending = ''
child.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  pending += chunk.toString()
  const lines = pending.split('\n')
  pending = lines.pop() ?? ''
  for (const line of lines) if (/^# \{ total: \d+/.test(line)) summary = line
})
child.on('close', (code, signal) => {
  if (/^# \{ total: \d+/.test(pending)) summary = pending
  const count = (key) => Number(new RegExp(`${key}: (\\d+)`).exec(summary)?.[1] ?? 0)
  if (summary) console.log(`\n${count('pass')} passed, ${count('fail')} failed, ${count('skip') + count('todo')} skipped`)
  else console.log('\n0 passed, 1 failed (tap printed no summary)')
  process.exit(code ?? (signal ? 1 : 0))
})
