import { setTimeout as sleep } from 'node:timers/promises'
import type { ProjectionStatus } from './projectionStatus.ts'

/**
 * How `mifumo replay` and `mifumo projections` show projections in a terminal: an aligned table,
 * and progress bars redrawn in place (done/total events, rate, time left). Piped, or with --json,
 * the same facts come out as JSON lines instead.
 */
export interface ConsoleOutput {
  write(text: string): void
  /** a terminal that understands cursor movement */
  isTTY: boolean
}

const number = (value: number | null): string => (value === null ? '?' : value.toLocaleString('en-US'))

export function duration(seconds: number | null): string {
  if (seconds === null) return '?'
  const s = Math.max(0, Math.round(seconds))
  const h = Math.floor(s / 3600)
  const m = Math.floor((s % 3600) / 60)
  const rest = String(s % 60).padStart(2, '0')
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${rest}` : `${m}:${rest}`
}

/** `activity_feed v2 [██████████░░░░░░░░░░] 52.3% 12,345/23,456 events 1,234/s ETA 0:09 running` */
export function progressLine(status: ProjectionStatus, width = 24, nameWidth = 22): string {
  const replay = status.replay
  const head = `${status.name.padEnd(nameWidth)} v${replay?.target_version ?? status.code_version}`
  if (!replay) return `${head}  no replay`
  const fraction = replay.state === 'swapped' ? 1 : replay.percent === null ? 0 : replay.percent / 100
  const filled = Math.round(fraction * width)
  const bar = `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]`
  const percent = replay.state === 'swapped' ? '100.0%' : replay.percent === null ? '   ?%' : `${replay.percent.toFixed(1).padStart(5)}%`
  const counts = `${number(replay.done)}/${number(replay.total)} events`
  const rate = `${number(replay.events_per_second)}/s`
  const eta = replay.state === 'running' ? `ETA ${duration(replay.eta_seconds)}` : ''
  return [head, bar, percent, counts, rate, eta, replay.state].filter(Boolean).join('  ')
}

/** The status table of `mifumo projections`. */
export function statusTable(statuses: readonly ProjectionStatus[]): string {
  const header = ['PROJECTION', 'VERSION', 'STATE', 'POSITION', 'LAG EVENTS', 'LAG', 'LAST ERROR']
  const rows = statuses.map((s) => [
    s.name,
    s.live_version === s.code_version || s.live_version === null ? String(s.code_version) : `${s.live_version}→${s.code_version}`,
    s.replay?.state === 'running' ? `rebuilding ${s.replay.percent ?? '?'}%` : s.state,
    String(s.position),
    number(s.lag_events),
    `${s.lag_seconds}s`,
    s.last_error ?? '',
  ])
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)))
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(header), ...rows.map(line)].join('\n') + '\n'
}

const ENDED = new Set(['swapped', 'cancelled', 'failed'])

/**
 * Follows replays until each has ended (swapped, cancelled or failed): progress bars redrawn in
 * place in a terminal, a JSON line per projection and tick otherwise. `stopWatching` (Ctrl-C)
 * ends the watch early; the replays themselves go on.
 */
export async function watchReplays(
  names: readonly string[],
  statuses: () => Promise<ProjectionStatus[]>,
  output: ConsoleOutput & { json: boolean },
  options: { intervalMs?: number; stopWatching?: () => boolean } = {},
): Promise<ProjectionStatus[]> {
  const interval = options.intervalMs ?? 500
  let drawn = 0
  for (;;) {
    const current = (await statuses()).filter((status) => names.includes(status.name))
    const ended = current.every((status) => status.replay !== null && ENDED.has(status.replay.state))
    if (output.json || !output.isTTY) {
      for (const status of current) output.write(`${JSON.stringify({ name: status.name, ...status.replay, state: status.replay?.state ?? null })}\n`)
    } else {
      if (drawn > 0) output.write(`\x1b[${drawn}A`)
      for (const status of current) output.write(`\r\x1b[2K${progressLine(status)}\n`)
      drawn = current.length
    }
    if (ended || options.stopWatching?.()) return current
    await sleep(interval)
  }
}
