import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * The benchmark harness in smoke mode (tiny sizes, sub-second loads): every figure module of
 * bench/figures runs to the end and reports a finite value with its checks. Whether the targets
 * pass is not asserted here; smoke sizes say nothing about them.
 */

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

// a whole smoke run of every figure and baseline, on a shared machine
t.setTimeout(480_000)

interface Exit {
  code: number | null
  stdout: string
  stderr: string
}

function runHarness(args: string[]): Promise<Exit> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '' }
    for (const name of ['HOME', 'TEST_POSTGRES_URL', 'TEST_REDIS_URL']) if (process.env[name]) env[name] = process.env[name]!
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: root, env })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    // a hung run is stopped the way Ctrl-C would (its clean-ups run), then killed
    const interrupt = setTimeout(() => child.kill('SIGINT'), 420_000)
    const kill = setTimeout(() => child.kill('SIGKILL'), 450_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(interrupt)
      clearTimeout(kill)
      resolve({ code, stdout, stderr })
    })
  })
}

async function figureModules(): Promise<string[]> {
  const directory = path.join(root, 'bench', 'figures')
  if (!existsSync(directory)) return []
  return (await readdir(directory)).filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts')).map((file) => file.slice(0, -3)).sort()
}

t.test('an unknown figure name is refused with the list of figures', async (t) => {
  const exit = await runHarness(['--smoke', 'no-such-figure'])
  t.equal(exit.code, 2)
  t.match(exit.stderr, /no such figure: no-such-figure/)
})

t.test('a smoke run of every figure writes latest.json and latest.md with every figure, its value and its checks', async (t) => {
  const out = await mkdtemp(path.join(os.tmpdir(), 'mifumo-bench-smoke-'))
  t.teardown(() => rm(out, { recursive: true, force: true }))
  const modules = await figureModules()

  const exit = await runHarness(['--smoke', '--no-update-readme', '--out', out])
  if (exit.code !== 0) t.comment(`${exit.stdout.slice(-4000)}\n${exit.stderr.slice(-2000)}`)
  t.equal(exit.code, 0, 'the harness exits 0 (no figure crashed)')

  const report = JSON.parse(await readFile(path.join(out, 'latest.json'), 'utf8'))
  t.equal(report.mode, 'smoke')
  for (const key of ['cpu', 'cores', 'memoryGb', 'os', 'node', 'postgres', 'redis', 'loadAverageAtStart', 'loadAverageAtEnd']) {
    t.ok(report.machine[key] !== undefined, `the machine's ${key} is recorded`)
  }
  t.same(
    report.figures.map((figure: { name: string }) => figure.name).sort(),
    modules,
    'every module of bench/figures ran',
  )
  for (const figure of report.figures) {
    t.equal(figure.status, 'ok', `${figure.name} ran to the end${figure.error ? `: ${figure.error}` : ''}`)
    t.ok(figure.results.length > 0, `${figure.name} reports at least one figure`)
    for (const result of figure.results) {
      t.ok(typeof result.value === 'number' && Number.isFinite(result.value), `${result.figure}: a finite value`)
      t.ok(typeof result.unit === 'string' && result.unit.length > 0, `${result.figure}: a unit`)
      t.ok(Array.isArray(result.checks), `${result.figure}: a list of checks`)
      for (const check of result.checks) {
        t.ok(typeof check.target === 'string' && typeof check.actual === 'string' && typeof check.pass === 'boolean', `${result.figure}: check "${check.target}" is complete`)
      }
      if (result.baseline !== null) {
        t.ok(Number.isFinite(result.baseline.value) && result.baseline.value > 0, `${result.figure}: its baseline ${result.baseline.name} has a value`)
      }
    }
  }

  const markdown = await readFile(path.join(out, 'latest.md'), 'utf8')
  t.match(markdown, /\| figure \| value \| baseline \| ratio \| target \| actual \| pass\/fail \|/, 'latest.md holds the table')
  t.match(markdown, /^Measured .* in smoke mode/m, 'latest.md names the machine')
})
