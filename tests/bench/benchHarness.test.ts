import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * The harness's promises to the figures, with figures written here to fail: a crashing figure, one
 * asking for a baseline nobody wrote, one leaving a rejected promise behind, and one that works.
 * The crashes are reported with their errors, the others still run, every clean-up runs, and the
 * exit code says a figure crashed.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

function figure(body: string, cleanupMarker: string): string {
  return `
import { writeFile } from 'node:fs/promises'
export const benchmark = {
  name: '${cleanupMarker}',
  description: 'written by the harness test',
  usesDataset: false,
  async run(ctx) {
    ctx.onCleanup(() => writeFile(new URL('./cleaned-${cleanupMarker}', import.meta.url), 'yes'))
    ${body}
  },
}
`
}

t.test('crashed figures are reported with their errors, the rest run, every clean-up runs, and the exit code is 1', async (t) => {
  const directory = await mkdtemp(path.join(os.tmpdir(), 'mifumo-bench-figures-'))
  t.teardown(() => rm(directory, { recursive: true, force: true }))
  const out = path.join(directory, 'out')
  await writeFile(path.join(directory, 'package.json'), '{"type": "module"}\n')
  await writeFile(path.join(directory, 'crashing.ts'), figure(`throw new Error('this figure breaks on purpose')`, 'crashing'))
  await writeFile(path.join(directory, 'missingBaseline.ts'), figure(`await ctx.baseline('nothingWrittenHere'); return []`, 'missingBaseline'))
  await writeFile(path.join(directory, 'stray.ts'), figure(`Promise.reject(new Error('a promise nobody awaited')); await new Promise((resolve) => setTimeout(resolve, 60_000)); return []`, 'stray'))
  await writeFile(
    path.join(directory, 'working.ts'),
    figure(`return [{ figure: 'a working figure', value: 42, unit: 'things/s', baseline: null, ratio: null, checks: [{ target: 'things ≥ 40/s', actual: '42/s', pass: true }] }]`, 'working'),
  )

  const exit = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', BENCH_FIGURES_DIR: directory }
    for (const name of ['HOME', 'TEST_POSTGRES_URL', 'TEST_REDIS_URL']) if (process.env[name]) env[name] = process.env[name]!
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--smoke', '--no-update-readme', '--out', out], { cwd: root, env })
    let stdout = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.resume()
    const kill = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(kill)
      resolve({ code, stdout })
    })
  })
  if (exit.code !== 1) t.comment(exit.stdout.slice(-3000))
  t.equal(exit.code, 1, 'a crashed figure makes the exit code 1')

  const report = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8'))
  const byName = Object.fromEntries(report.figures.map((outcome: { name: string }) => [outcome.name, outcome]))
  t.same(Object.keys(byName).sort(), ['crashing', 'missingBaseline', 'stray', 'working'])
  t.equal(byName.crashing.status, 'crashed')
  t.match(byName.crashing.error, /breaks on purpose/)
  t.equal(byName.missingBaseline.status, 'crashed')
  t.match(byName.missingBaseline.error, /^baseline nothingWrittenHere: not written yet: bench\/baselines\/nothingWrittenHere.ts does not exist/)
  t.equal(byName.stray.status, 'crashed')
  t.match(byName.stray.error, /a promise nobody awaited/)
  t.equal(byName.working.status, 'ok')
  t.equal(byName.working.results[0].value, 42)
  for (const name of ['crashing', 'missingBaseline', 'stray', 'working']) {
    t.ok(existsSync(path.join(directory, `cleaned-${name}`)), `the clean-up of ${name} ran`)
  }
  const markdown = await readFile(path.join(out, 'latest.md'), 'utf8')
  t.match(markdown, /\| crashing \| — \| — \| — \| — \| crashed: this figure breaks on purpose \| FAIL \|/)
  t.match(markdown, /\| a working figure \| 42 things\/s \| — \| — \| things ≥ 40\/s \| 42\/s \| pass \|/)
})
