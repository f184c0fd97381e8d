import type { BaselineResult, BenchDataset, BenchMode, FigureResult } from './benchmark.ts'

/** One figure module's outcome in the run. */
export interface FigureOutcome {
  /** the module's name (bench/figures/<name>.ts), what the command line selects */
  name: string
  description: string
  status: 'ok' | 'crashed'
  error?: string
  startedAt: string
  /** from its start to its last clean-up, any wait for the dataset included */
  durationSeconds: number
  /** how long it waited for the dataset to be built (the first figure that needs it pays the build) */
  datasetWaitSeconds?: number
  results: FigureResult[]
}

/**
 * What a run wrote (bench/results/latest.json) and the table made of it, for the terminal and in
 * markdown (latest.md, and README.md's results section): one line per check of every figure.
 */

export interface RunReport {
  mode: BenchMode
  startedAt: string
  durationSeconds: number
  machine: {
    cpu: string
    cores: number
    memoryGb: number
    os: string
    node: string
    postgres: string
    redis: string
    loadAverageAtStart: number[]
    loadAverageAtEnd: number[]
  }
  /** the figure modules this run ran */
  selected: string[]
  /** whether those were all of bench/figures */
  allFigures: boolean
  figures: FigureOutcome[]
  /** every baseline measured (or that failed) during the run */
  baselines: Record<string, BaselineResult | { name: string; error: string }>
  dataset: (BenchDataset & { buildSeconds: number }) | { error: string } | null
}

const baselineLabels: Record<string, string> = {
  bareFastify: 'bare Fastify',
  fastifyPgSelect: 'Fastify + pg SELECT',
  rawInsert: 'raw INSERT',
  handWrittenProjection: 'hand-written projection',
  bullmqNoop: 'BullMQ no-op',
  emmettAppend: 'Emmett appendToStream',
}

type Row = [figure: string, value: string, baseline: string, ratio: string, target: string, actual: string, verdict: string]

const header: Row = ['figure', 'value', 'baseline', 'ratio', 'target', 'actual', 'pass/fail']

/** Non-2xx answers and errors under load, summed over a figure's details (any depth): such a figure is marked. */
export function loadTroubles(details: unknown): { non2xx: number; errors: number } {
  const found = { non2xx: 0, errors: 0 }
  const visit = (value: unknown, depth: number) => {
    if (depth > 6 || value === null || typeof value !== 'object') return
    if (Array.isArray(value)) return // per-run entries repeat the totals beside them
    for (const [key, inner] of Object.entries(value)) {
      if (key === 'non2xx' && typeof inner === 'number') found.non2xx += inner
      else if (key === 'errors' && typeof inner === 'number') found.errors += inner
      else visit(inner, depth + 1)
    }
  }
  visit(details, 0)
  return found
}

export function formatQuantity(value: number, unit: string): string {
  if (!Number.isFinite(value)) return `${value} ${unit}`.trim()
  const shown = Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en') : String(Math.round(value * 100) / 100)
  return `${shown} ${unit}`.trim()
}

function rows(report: RunReport): { rows: Row[]; marked: string[] } {
  const table: Row[] = []
  const marked: string[] = []
  for (const figure of report.figures) {
    if (figure.status === 'crashed' && figure.results.length === 0) {
      table.push([figure.name, '—', '—', '—', '—', `crashed: ${oneLine(figure.error ?? 'unknown error', 90)}`, 'FAIL'])
      continue
    }
    for (const result of figure.results) {
      const troubles = loadTroubles(result.details)
      let name = result.figure
      if (troubles.non2xx > 0 || troubles.errors > 0) {
        name = `${name} ⚠`
        marked.push(`${result.figure}: ${troubles.non2xx.toLocaleString('en')} non-2xx answers, ${troubles.errors.toLocaleString('en')} errors under load`)
      }
      const baseline = result.baseline ? `${baselineLabels[result.baseline.name] ?? result.baseline.name} ${formatQuantity(result.baseline.value, result.baseline.unit)}` : '—'
      const ratio = result.ratio === null || result.ratio === undefined ? '—' : `${result.ratio.toFixed(2)} ×`
      const value = formatQuantity(result.value, result.unit)
      if (result.checks.length === 0) {
        table.push([name, value, baseline, ratio, '—', '—', 'no target'])
        continue
      }
      result.checks.forEach((check, index) => {
        const first = index === 0
        table.push([first ? name : '', first ? value : '', first ? baseline : '', first ? ratio : '', check.target, check.actual, check.pass ? 'pass' : 'FAIL'])
      })
    }
  }
  return { rows: table, marked }
}

export function machineLine(report: RunReport): string {
  const m = report.machine
  const date = report.startedAt.slice(0, 16).replace('T', ' ')
  return (
    `Measured ${date} UTC in ${report.mode} mode (${Math.round(report.durationSeconds / 6) / 10} min) on ${m.cpu}, ` +
    `${m.cores} cores, ${m.memoryGb} GB, ${m.os}; Node ${m.node}, PostgreSQL ${m.postgres}, Redis ${m.redis}; ` +
    `load average ${m.loadAverageAtStart[0] ?? '?'} at the start, ${m.loadAverageAtEnd[0] ?? '?'} at the end.`
  )
}

function summaryLine(report: RunReport): string {
  let passed = 0
  let failed = 0
  for (const figure of report.figures) {
    if (figure.status === 'crashed') failed++
    for (const result of figure.results) for (const check of result.checks) check.pass ? passed++ : failed++
  }
  const crashed = report.figures.filter((figure) => figure.status === 'crashed').map((figure) => figure.name)
  return `${passed} checks pass, ${failed} fail${crashed.length > 0 ? ` (crashed: ${crashed.join(', ')})` : ''}${report.allFigures ? '' : `; figures run: ${report.selected.join(', ') || 'none'}`}.`
}

/** Where the run's time went: each figure (its wait for the dataset apart), for the 15-minute budget of a full run. */
export function timeLine(report: RunReport): string {
  const parts: string[] = []
  if (report.dataset && 'buildSeconds' in report.dataset) parts.push(`dataset ${Math.round(report.dataset.buildSeconds)} s`)
  for (const figure of report.figures) parts.push(`${figure.name} ${Math.round(figure.durationSeconds - (figure.datasetWaitSeconds ?? 0))} s`)
  return `Time: ${parts.join(', ') || 'nothing ran'}; ${Math.round(report.durationSeconds)} s in all.`
}

export function formatMarkdown(report: RunReport): string {
  const { rows: table, marked } = rows(report)
  const escape = (cell: string) => cell.replace(/\|/g, '\\|')
  const lines = [
    machineLine(report),
    '',
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...table.map((row) => `| ${row.map(escape).join(' | ')} |`),
    '',
    summaryLine(report),
    timeLine(report),
  ]
  if (marked.length > 0) lines.push('', ...marked.map((line) => `⚠ ${line}`))
  return `${lines.join('\n')}\n`
}

export function formatTerminalTable(report: RunReport): string {
  const { rows: table, marked } = rows(report)
  if (table.length === 0) return `${machineLine(report)}\n(no figures ran)`
  const all = [header, ...table]
  const widths = header.map((_, column) => Math.max(...all.map((row) => [...row[column]!].length)))
  const format = (row: Row) => row.map((cell, column) => cell + ' '.repeat(widths[column]! - [...cell].length)).join('  ').trimEnd()
  const lines = [format(header), widths.map((width) => '-'.repeat(width)).join('  '), ...table.map(format), '', summaryLine(report), timeLine(report), machineLine(report)]
  if (marked.length > 0) lines.push(...marked.map((line) => `⚠ ${line}`))
  return lines.join('\n')
}

function oneLine(text: string, max: number): string {
  const line = text.split('\n')[0] ?? ''
  return line.length > max ? `${line.slice(0, max - 1)}…` : line
}

export const RESULTS_START = '<!-- bench:results:start -->'
export const RESULTS_END = '<!-- bench:results:end -->'

/** The text with what lies between the results markers replaced by `markdown`; null when the markers are missing. */
export function replaceResultsSection(text: string, markdown: string): string | null {
  const start = text.indexOf(RESULTS_START)
  const end = text.indexOf(RESULTS_END, start + 1)
  if (start === -1 || end === -1) return null
  return `${text.slice(0, start + RESULTS_START.length)}\n${markdown.trimEnd()}\n${text.slice(end)}`
}
