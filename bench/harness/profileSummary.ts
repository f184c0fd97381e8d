/**
 * Summarises a V8 CPU profile (.cpuprofile, from `node --cpu-prof` or `npm run bench -- --profile`):
 * where the samples were, by function (self time) and by package or source folder, as text for a
 * report.
 *
 *   npx tsx bench/harness/profileSummary.ts <file.cpuprofile | folder of one process's profiles>… [--top 20]
 */
import { readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { isEntryPoint } from '../../infra/entryPoint.ts'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  totalMs: number
  /** share of the samples in which the process was idle (waiting for I/O) */
  idleShare: number
  functions: Array<{ name: string; where: string; selfMs: number; share: number }>
  places: Array<{ place: string; selfMs: number; share: number }>
}

/** Where a script lives, as a report names it: the package (node_modules/<name>), node's own internals, or the repository's folder. */
function placeOf(url: string): string {
  if (!url) return '(native / V8)'
  if (url.startsWith('node:')) return 'node internals'
  const file = url.replace(/^file:\/\//, '')
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)
  if (packageMatch) return packageMatch[1]!
  const parts = file.split('/')
  const folderIndex = parts.findIndex((part) => ['infra', 'commands', 'queries', 'projections', 'bench', 'tests'].includes(part))
  if (folderIndex >= 0) return parts.slice(folderIndex, folderIndex + 2).join('/')
  return path.basename(file)
}

export function summariseProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const selfMicros = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const totalMicros = [...selfMicros.values()].reduce((sum, value) => sum + value, 0) || 1
  const functions = new Map<string, { name: string; where: string; micros: number }>()
  const places = new Map<string, number>()
  let idleMicros = 0
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)?.callFrame
    if (!frame) continue
    const name = frame.functionName || '(anonymous)'
    if (name === '(idle)') idleMicros += micros
    const where = frame.url ? `${placeOf(frame.url)}:${frame.lineNumber + 1}` : ''
    const key = `${name}@${frame.url}:${frame.lineNumber}`
    const entry = functions.get(key) ?? { name, where, micros: 0 }
    entry.micros += micros
    functions.set(key, entry)
    const place = name === '(idle)' || name === '(program)' || name === '(garbage collector)' ? name : placeOf(frame.url)
    places.set(place, (places.get(place) ?? 0) + micros)
  }
  const ms = (micros: number) => Math.round(micros / 100) / 10
  const share = (micros: number) => Math.round((micros / totalMicros) * 1000) / 10
  return {
    totalMs: ms(totalMicros),
    idleShare: share(idleMicros),
    functions: [...functions.values()]
      .sort((a, b) => b.micros - a.micros)
      .slice(0, top)
      .map((entry) => ({ name: entry.name, where: entry.where, selfMs: ms(entry.micros), share: share(entry.micros) })),
    places: [...places.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([place, micros]) => ({ place, selfMs: ms(micros), share: share(micros) })),
  }
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const lines = [`${summary.totalMs} ms sampled, ${summary.idleShare} % idle`, '', 'self time by package or folder:']
  for (const place of summary.places) lines.push(`  ${String(place.share).padStart(5)} %  ${place.place}`)
  lines.push('', 'self time by function:')
  for (const entry of summary.functions) lines.push(`  ${String(entry.share).padStart(5)} %  ${entry.name}  ${entry.where}`)
  return lines.join('\n')
}

/** The files named, and for a folder (one process's, from --profile) its largest profile: the main thread's. */
async function mainThreadProfiles(paths: string[]): Promise<string[]> {
  const files: string[] = []
  for (const given of paths) {
    if (!(await stat(given)).isDirectory()) {
      files.push(given)
      continue
    }
    const candidates = (await readdir(given)).filter((name) => name.endsWith('.cpuprofile')).map((name) => path.join(given, name))
    const sizes = await Promise.all(candidates.map(async (file) => ({ file, size: (await stat(file)).size })))
    const largest = sizes.sort((a, b) => b.size - a.size)[0]
    if (largest) files.push(largest.file)
  }
  return files
}

if (isEntryPoint(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '20' } } })
  if (positionals.length === 0) {
    process.stderr.write('usage: npx tsx bench/harness/profileSummary.ts <file.cpuprofile>… [--top 20]\n')
    process.exit(2)
  }
  for (const file of await mainThreadProfiles(positionals)) {
    const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile
    process.stdout.write(`${path.basename(file)}: ${formatProfileSummary(summariseProfile(profile, Number(values.top)))}\n\n`)
  }
}
