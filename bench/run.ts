/**
 * The benchmark harness: `npm run bench [-- <figure>…] [--quick | --smoke] [--out <dir>]`.
 *
 * It discovers the figures (bench/figures/<name>.ts, each exporting `benchmark`), runs the chosen
 * ones one after another with a BenchContext (baselines and the dataset measured or built once, on
 * first ask, and shared), runs every clean-up even when a figure fails or the run is interrupted,
 * prints a table of every check, and writes <out>/latest.json and <out>/latest.md. A full run of
 * every figure also rewrites the results section of README.md (between its bench:results markers).
 *
 * Exit code: 0 when it ran, whatever the targets say (1 with --strict when a target missed);
 * 1 when a figure crashed; 2 for a bad command line; 130 when interrupted.
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import type { BaselineName, BaselineResult, Benchmark, BenchContext, BenchDataset, BenchMode, FigureResult } from './harness/benchmark.ts'
import { postgresServerVersion } from './harness/databases.ts'
import { formatMarkdown, formatTerminalTable, replaceResultsSection, RESULTS_END, RESULTS_START, type FigureOutcome, type RunReport } from './harness/report.ts'

const benchRoot = path.dirname(fileURLToPath(import.meta.url))
const repositoryRoot = path.resolve(benchRoot, '..')
/** BENCH_FIGURES_DIR points elsewhere only for the harness's own tests (figures that crash on purpose) */
const figuresDirectory = process.env.BENCH_FIGURES_DIR ? path.resolve(process.env.BENCH_FIGURES_DIR) : path.join(benchRoot, 'figures')
const baselinesDirectory = path.join(benchRoot, 'baselines')
const datasetModule = path.join(benchRoot, 'dataset', 'index.ts')

/** Figures run in this order (a new one not listed here runs after them, by name). */
const preferredOrder = ['appends', 'contactUpsert', 'reads', 'freshness', 'replay', 'delivery']

/** A figure still running after this long is given up on (its clean-ups run, the others go on). */
const figureTimeLimitSeconds: Record<BenchMode, number> = { smoke: 240, quick: 900, full: 1800 }

const usage = `usage: npm run bench -- [<figure>…] [--quick | --smoke] [--out <dir>] [--update-readme | --no-update-readme] [--readme <file>] [--strict] [--profile <dir>] [--list]

  <figure>            one or more of the names --list prints (default: all)
  --quick             about a tenth of the full sizes, for small machines
  --smoke             tiny sizes and sub-second loads (the smoke test runs this)
  --out <dir>         where latest.json and latest.md go (default: bench/results)
  --update-readme     put latest.md into README.md between its bench:results markers
                      (default: on for a full run of every figure)
  --no-update-readme  never touch the README
  --readme <file>     the README to update (default: README.md at the repository's root)
  --strict            exit 1 when a target is missed, not only when a figure crashes
  --profile <dir>     CPU profiles of the service and the baseline servers into <dir>
                      (summarise one with: npx tsx bench/harness/profileSummary.ts <file>)
  --list              print the figures and exit`

interface CommandLine {
  mode: BenchMode
  names: string[]
  outDirectory: string
  updateReadme: boolean
  readmePath: string
  strict: boolean
  list: boolean
}

function parseCommandLine(argv: string[]): CommandLine {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      smoke: { type: 'boolean', default: false },
      full: { type: 'boolean', default: false },
      out: { type: 'string' },
      'update-readme': { type: 'boolean' },
      'no-update-readme': { type: 'boolean', default: false },
      readme: { type: 'string' },
      strict: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      profile: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  })
  if (values.help) {
    process.stdout.write(`${usage}\n`)
    process.exit(0)
  }
  if ([values.quick, values.smoke, values.full].filter(Boolean).length > 1) throw new UsageError('choose one of --quick, --smoke and --full')
  if (values.profile) process.env.BENCH_PROFILE_DIR = path.resolve(values.profile)
  const mode: BenchMode = values.smoke ? 'smoke' : values.quick ? 'quick' : 'full'
  const updateReadme = values['no-update-readme'] ? false : (values['update-readme'] ?? (mode === 'full' && positionals.length === 0))
  return {
    mode,
    names: positionals,
    outDirectory: path.resolve(values.out ?? path.join(benchRoot, 'results')),
    updateReadme,
    readmePath: path.resolve(values.readme ?? path.join(repositoryRoot, 'README.md')),
    strict: values.strict,
    list: values.list,
  }
}

class UsageError extends Error {}


// ---------------------------------------------------------------------------------------------
// clean-ups: a stack per scope (the run's, for baselines and the dataset; each figure's own)
// ---------------------------------------------------------------------------------------------

class CleanupStack {
  private readonly tasks: Array<{ label: string; task: () => Promise<void> }> = []

  push(label: string, task: () => Promise<void>): void {
    this.tasks.push({ label, task })
  }

  /** Runs every task, the last registered first; a failing task is reported and the rest still run. */
  async runAll(report: (line: string) => void): Promise<void> {
    while (this.tasks.length > 0) {
      const { label, task } = this.tasks.pop()!
      try {
        await task()
      } catch (error) {
        report(`clean-up of ${label} failed: ${describeError(error)}`)
      }
    }
  }
}

const runCleanups = new CleanupStack()
let figureCleanups: CleanupStack | null = null
let cleaningUp: Promise<void> | null = null

async function cleanUpEverything(): Promise<void> {
  cleaningUp ??= (async () => {
    if (figureCleanups) await figureCleanups.runAll(progress)
    await runCleanups.runAll(progress)
  })()
  return cleaningUp
}

// ---------------------------------------------------------------------------------------------
// progress
// ---------------------------------------------------------------------------------------------

const runStartedAt = Date.now()

function progress(line: string): void {
  const seconds = Math.round((Date.now() - runStartedAt) / 1000)
  const stamp = `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}`
  process.stdout.write(`[${stamp}] ${line}\n`)
}

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message
  return String(error)
}

function errorDetail(error: unknown): string {
  if (error instanceof Error) return error.stack ?? error.message
  return String(error)
}

// ---------------------------------------------------------------------------------------------
// baselines and the dataset: measured or built once, on first ask
// ---------------------------------------------------------------------------------------------

const baselineResults = new Map<string, Promise<BaselineResult>>()
const baselineOutcomes: Record<string, BaselineResult | { name: string; error: string }> = {}
let datasetPromise: Promise<BenchDataset> | null = null
let datasetOutcome: (BenchDataset & { buildSeconds: number }) | { error: string } | null = null

function contextFor(scope: string, mode: BenchMode, postgresUrl: string, redisUrl: string, cleanups: () => CleanupStack): BenchContext {
  const context: BenchContext = {
    mode,
    postgresUrl,
    redisUrl,
    log: (line) => progress(`${scope}: ${line}`),
    dataset: () => (datasetPromise ??= buildDataset(runContext(mode, postgresUrl, redisUrl, 'dataset'))),
    baseline: (name) => {
      let measured = baselineResults.get(name)
      if (!measured) {
        measured = measureBaseline(name, runContext(mode, postgresUrl, redisUrl, `baseline ${name}`))
        baselineResults.set(name, measured)
      }
      return measured
    },
    onCleanup: (task) => cleanups().push(scope, task),
  }
  return context
}

/** The context of work whose results live for the whole run (baselines, the dataset): its clean-ups run at the end. */
function runContext(mode: BenchMode, postgresUrl: string, redisUrl: string, scope: string): BenchContext {
  return contextFor(scope, mode, postgresUrl, redisUrl, () => runCleanups)
}

async function measureBaseline(name: BaselineName, ctx: BenchContext): Promise<BaselineResult> {
  const file = path.join(baselinesDirectory, `${name}.ts`)
  const started = Date.now()
  try {
    if (!/^[A-Za-z0-9]+$/.test(name) || !existsSync(file)) {
      throw new Error(`not written yet: bench/baselines/${name}.ts does not exist`)
    }
    const loaded = (await import(pathToFileURL(file).href)) as { measureBaseline?: (ctx: BenchContext) => Promise<BaselineResult> }
    if (typeof loaded.measureBaseline !== 'function') throw new Error(`bench/baselines/${name}.ts exports no measureBaseline(ctx)`)
    ctx.log('measuring')
    const result = await loaded.measureBaseline(ctx)
    if (!result || !Number.isFinite(result.value) || result.value <= 0) {
      throw new Error(`measured no positive value (${JSON.stringify(result?.value)})`)
    }
    ctx.log(`${formatNumber(result.value)} ${result.unit} (${secondsSince(started)} s)`)
    baselineOutcomes[name] = { ...result, details: { ...result.details, measureSeconds: secondsSince(started) } }
    return result
  } catch (error) {
    baselineOutcomes[name] = { name, error: describeError(error) }
    ctx.log(`failed: ${describeError(error)}`)
    throw new Error(`baseline ${name}: ${describeError(error)}`, { cause: error })
  }
}

async function buildDataset(ctx: BenchContext): Promise<BenchDataset> {
  const started = Date.now()
  try {
    if (!existsSync(datasetModule)) throw new Error('not written yet: bench/dataset/index.ts does not exist')
    const loaded = (await import(pathToFileURL(datasetModule).href)) as { buildDataset?: (ctx: BenchContext) => Promise<BenchDataset> }
    if (typeof loaded.buildDataset !== 'function') throw new Error('bench/dataset/index.ts exports no buildDataset(ctx)')
    ctx.log('building')
    const dataset = await loaded.buildDataset(ctx)
    ctx.log(`${formatNumber(dataset.events)} events across ${dataset.tenants} tenants (${secondsSince(started)} s)`)
    datasetOutcome = { ...dataset, largestTenant: { ...dataset.largestTenant, password: '(hidden)' }, buildSeconds: secondsSince(started) }
    return dataset
  } catch (error) {
    datasetOutcome = { error: describeError(error) }
    ctx.log(`failed: ${describeError(error)}`)
    throw new Error(`dataset: ${describeError(error)}`, { cause: error })
  }
}

// ---------------------------------------------------------------------------------------------
// figures
// ---------------------------------------------------------------------------------------------

async function figureNames(): Promise<string[]> {
  const files = existsSync(figuresDirectory) ? await readdir(figuresDirectory) : []
  const names = files.filter((file) => file.endsWith('.ts') && !file.endsWith('.d.ts') && !file.endsWith('.test.ts')).map((file) => file.slice(0, -3))
  const rank = (name: string) => {
    const index = preferredOrder.indexOf(name)
    return index === -1 ? preferredOrder.length : index
  }
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
}

async function loadBenchmark(name: string): Promise<Benchmark> {
  const loaded = (await import(pathToFileURL(path.join(figuresDirectory, `${name}.ts`)).href)) as { benchmark?: Benchmark }
  const benchmark = loaded.benchmark
  if (!benchmark || typeof benchmark.run !== 'function') throw new Error(`bench/figures/${name}.ts exports no benchmark (export const benchmark: Benchmark)`)
  return benchmark
}

let currentFigureFailure: ((error: unknown) => void) | null = null

async function runFigure(name: string, mode: BenchMode, postgresUrl: string, redisUrl: string): Promise<FigureOutcome> {
  const started = Date.now()
  const outcome: FigureOutcome = { name, description: '', status: 'ok', startedAt: new Date(started).toISOString(), durationSeconds: 0, results: [] }
  const cleanups = new CleanupStack()
  figureCleanups = cleanups
  let timer: NodeJS.Timeout | undefined
  try {
    const benchmark = await loadBenchmark(name)
    outcome.description = benchmark.description
    if (benchmark.name !== name) progress(`${name}: note: its benchmark calls itself "${benchmark.name}"; the command line selects it as "${name}"`)
    const ctx = contextFor(name, mode, postgresUrl, redisUrl, () => cleanups)
    if (benchmark.usesDataset) {
      const waitStarted = Date.now()
      await ctx.dataset()
      outcome.datasetWaitSeconds = secondsSince(waitStarted)
    }
    progress(`${name}: running (${benchmark.description})`)
    const limitSeconds = figureTimeLimitSeconds[mode]
    const results = await Promise.race([
      benchmark.run(ctx),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`did not finish within ${limitSeconds} s`)), limitSeconds * 1000)
      }),
      // a promise the figure forgot to await that rejects is this figure's failure
      new Promise<never>((_, reject) => {
        currentFigureFailure = reject
      }),
    ])
    validateResults(name, results)
    outcome.results = results
    for (const result of results) {
      const verdict = result.checks.length === 0 ? 'no target' : result.checks.every((check) => check.pass) ? 'pass' : 'FAIL'
      progress(`${name}: ${result.figure}: ${formatNumber(result.value)} ${result.unit}${result.ratio === null ? '' : ` (${result.ratio.toFixed(2)} × ${result.baseline?.name})`}: ${verdict}`)
    }
  } catch (error) {
    outcome.status = 'crashed'
    outcome.error = describeError(error)
    progress(`${name}: CRASHED: ${errorDetail(error)}`)
  } finally {
    clearTimeout(timer)
    currentFigureFailure = null
    await cleanups.runAll(progress)
    figureCleanups = null
    outcome.durationSeconds = secondsSince(started)
    progress(`${name}: done in ${outcome.durationSeconds} s${outcome.datasetWaitSeconds ? ` (${outcome.datasetWaitSeconds} s of them waiting for the dataset)` : ''}`)
  }
  return outcome
}

function validateResults(name: string, results: unknown): asserts results is FigureResult[] {
  if (!Array.isArray(results) || results.length === 0) throw new Error(`${name} answered no figures`)
  for (const result of results as FigureResult[]) {
    if (typeof result.figure !== 'string' || !Number.isFinite(result.value)) {
      throw new Error(`${name}: figure ${JSON.stringify(result.figure)} has no finite value (${JSON.stringify(result.value)})`)
    }
    if (!Array.isArray(result.checks)) throw new Error(`${name}: figure ${result.figure} has no checks list`)
  }
}

// ---------------------------------------------------------------------------------------------
// the machine
// ---------------------------------------------------------------------------------------------

async function redisServerVersion(redisUrl: string): Promise<string> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null })
  redis.on('error', () => undefined)
  try {
    await redis.connect()
    const info = await redis.info('server')
    return /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'
  } catch (error) {
    return `unavailable (${describeError(error)})`
  } finally {
    redis.disconnect()
  }
}

async function describeMachine(postgresUrl: string, redisUrl: string): Promise<RunReport['machine']> {
  const cpus = os.cpus()
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGb: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: await postgresServerVersion(postgresUrl).catch((error: unknown) => `unavailable (${describeError(error)})`),
    redis: await redisServerVersion(redisUrl),
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
    loadAverageAtEnd: [],
  }
}

// ---------------------------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------------------------

async function updateReadme(readmePath: string, markdown: string): Promise<void> {
  if (!existsSync(readmePath)) {
    progress(`README not updated: ${readmePath} does not exist`)
    return
  }
  const updated = replaceResultsSection(await readFile(readmePath, 'utf8'), markdown)
  if (updated === null) {
    progress(`README not updated: ${path.basename(readmePath)} has no ${RESULTS_START} … ${RESULTS_END} markers`)
    return
  }
  await writeFile(readmePath, updated)
  progress(`results written into ${readmePath}`)
}

function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value)
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en')
  return String(Math.round(value * 100) / 100)
}

function secondsSince(started: number): number {
  return Math.round((Date.now() - started) / 100) / 10
}

// ---------------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  let commandLine: CommandLine
  try {
    commandLine = parseCommandLine(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${describeError(error)}\n${usage}\n`)
    return 2
  }
  const available = await figureNames()
  if (commandLine.list) {
    for (const name of available) process.stdout.write(`${name}\n`)
    return 0
  }
  const unknown = commandLine.names.filter((name) => !available.includes(name))
  if (unknown.length > 0) {
    process.stderr.write(`no such figure: ${unknown.join(', ')} (there are: ${available.join(', ') || 'none yet'})\n`)
    return 2
  }
  const selected = commandLine.names.length > 0 ? available.filter((name) => commandLine.names.includes(name)) : available
  const postgresUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

  let interrupted = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) {
      process.stderr.write(`${signal} again: exiting without finishing the clean-ups\n`)
      process.exit(130)
    }
    interrupted = true
    progress(`${signal}: cleaning up (again to exit at once)`)
    void cleanUpEverything().finally(() => process.exit(130))
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  // an error thrown where nobody catches it (a callback, a promise nobody awaited) fails the figure
  // running, not the whole run: its clean-ups and the other figures still run
  const onStrayError = (error: unknown) => {
    if (currentFigureFailure) currentFigureFailure(error)
    else progress(`an error nobody caught: ${errorDetail(error)}`)
  }
  process.on('unhandledRejection', onStrayError)
  process.on('uncaughtException', onStrayError)

  if (process.env.BENCH_PROFILE_DIR) {
    await mkdir(process.env.BENCH_PROFILE_DIR, { recursive: true })
    progress(`CPU profiles of the servers under load go to ${process.env.BENCH_PROFILE_DIR}`)
  }
  const startedAt = new Date()
  const machine = await describeMachine(postgresUrl, redisUrl)
  progress(`mode ${commandLine.mode}: ${selected.length === 0 ? 'no figures yet (bench/figures is empty)' : selected.join(', ')}`)
  progress(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB; Node ${machine.node}; PostgreSQL ${machine.postgres}; Redis ${machine.redis}; load ${machine.loadAverageAtStart.join(' ')}`)

  if ((machine.loadAverageAtStart[0] ?? 0) > machine.cores) {
    progress(`note: the machine is busy (load average ${machine.loadAverageAtStart[0]} on ${machine.cores} cores): absolute figures will be low and noisy, ratios less so`)
  }
  const outcomes: FigureOutcome[] = []
  try {
    for (const name of selected) outcomes.push(await runFigure(name, commandLine.mode, postgresUrl, redisUrl))
  } finally {
    await cleanUpEverything()
  }
  machine.loadAverageAtEnd = os.loadavg().map((value) => Math.round(value * 100) / 100)

  const report: RunReport = {
    mode: commandLine.mode,
    startedAt: startedAt.toISOString(),
    durationSeconds: secondsSince(startedAt.getTime()),
    machine,
    selected,
    allFigures: selected.length === available.length,
    figures: outcomes,
    baselines: baselineOutcomes,
    dataset: datasetOutcome,
  }
  const markdown = formatMarkdown(report)
  await mkdir(commandLine.outDirectory, { recursive: true })
  await writeFile(path.join(commandLine.outDirectory, 'latest.json'), `${JSON.stringify(report, null, 2)}\n`)
  await writeFile(path.join(commandLine.outDirectory, 'latest.md'), markdown)
  process.stdout.write(`\n${formatTerminalTable(report)}\n`)
  progress(`written: ${path.join(commandLine.outDirectory, 'latest.json')} and latest.md`)
  if (commandLine.updateReadme) await updateReadme(commandLine.readmePath, markdown)

  const crashed = outcomes.some((outcome) => outcome.status === 'crashed')
  const missed = outcomes.some((outcome) => outcome.results.some((result) => result.checks.some((check) => !check.pass)))
  if (crashed) return 1
  if (commandLine.strict && missed) return 1
  return 0
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    process.stderr.write(`the benchmark harness failed: ${errorDetail(error)}\n`)
    await cleanUpEverything()
    process.exit(1)
  },
)
