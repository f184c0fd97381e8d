import path from 'node:path'
import { readFile } from 'node:fs/promises'
import { atLeastRatio, atMost, ratioOf, type Benchmark, type BenchContext, type FigureResult, type TargetCheck } from '../harness/benchmark.ts'
import { forkTypeScript, repositoryRoot } from '../harness/childProcesses.ts'
import type { ReplayDoneMessage, ReplayProgressMessage } from '../dataset/dashboardReplayProcess.ts'

/**
 * Replay of every dashboard projection over the dataset's log, through the engine's replay (as
 * `mifumo replay --all` runs it), in a process of its own whose memory is sampled every 200 ms.
 * Throughput is the log's events over the wall time of the whole replay (all five rebuilt and
 * swapped in), against the hand-written batched projection reading the same log.
 */

const RSS_CEILING_MB = 300
/** flat: the resident set at the end is at most this many times the one at a tenth of the log */
const FLATNESS = 1.25
const EARLY_FRACTION = 0.1

async function vmRssBytes(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const match = /VmRSS:\s+(\d+) kB/.exec(status)
    return match ? Number(match[1]) * 1024 : null
  } catch {
    return null
  }
}

export const benchmark: Benchmark = {
  name: 'replay',
  description: 'replay of all dashboard projections over the dataset, vs a hand-written batched projection; peak and flatness of memory',
  usesDataset: true,
  async run(ctx: BenchContext): Promise<FigureResult[]> {
    const dataset = await ctx.dataset()
    const baseline = await ctx.baseline('handWrittenProjection')
    const child = forkTypeScript(path.join(repositoryRoot, 'bench', 'dataset', 'dashboardReplayProcess.ts'), {
      env: { DATABASE_URL: dataset.databaseUrl },
      profileLabel: 'replay',
    })
    ctx.onCleanup(() => child.stop(5_000))
    const pid = child.process.pid!
    const samples: { fraction: number; rssBytes: number }[] = []
    let fraction = 0
    let earlyRss: number | null = null
    let peakSampled = 0
    const sampler = setInterval(() => {
      void vmRssBytes(pid).then((rss) => {
        if (rss === null) return
        peakSampled = Math.max(peakSampled, rss)
        samples.push({ fraction, rssBytes: rss })
        if (earlyRss === null && fraction >= EARLY_FRACTION) earlyRss = rss
      })
    }, 200)
    let lastLogged = -1
    const done = await new Promise<ReplayDoneMessage>((resolve, reject) => {
      child.process.on('message', (message: ReplayProgressMessage | ReplayDoneMessage) => {
        if (message.kind === 'progress') {
          fraction = message.fraction
          const tenth = Math.floor(fraction * 10)
          if (tenth > lastLogged) {
            lastLogged = tenth
            ctx.log(`replay: ${Math.round(fraction * 100)}%, rss ${Math.round(message.rssBytes / 1048576)} MB`)
          }
        } else if (message.kind === 'done') resolve(message)
      })
      void child.exited.then((code) => reject(new Error(`the replay process exited (${code}) before it finished\n${child.outputTail()}`)))
    }).finally(() => clearInterval(sampler))
    await child.exited

    const eventsPerSecond = dataset.events / done.seconds
    const ratio = ratioOf(eventsPerSecond, baseline.value)
    const endRss = samples.at(-1)?.rssBytes ?? 0
    const early = earlyRss ?? samples.find((s) => s.fraction >= EARLY_FRACTION)?.rssBytes ?? null
    const peakMb = Math.max(done.maxRssBytes, peakSampled) / 1048576
    const failed = Object.entries(done.states).filter(([, state]) => state !== 'swapped')
    const flatness = early ? endRss / early : null
    const checks: TargetCheck[] = [
      atLeastRatio(ratio, 0.7, 'hand-written projection'),
      atMost('peak RSS', peakMb, RSS_CEILING_MB, 'MB'),
      {
        target: `RSS at end ≤ ${FLATNESS} × RSS at ${EARLY_FRACTION * 100}% of the log`,
        actual: flatness === null ? 'n/a' : `${flatness.toFixed(2)} ×`,
        pass: flatness !== null && flatness <= FLATNESS,
      },
    ]
    if (failed.length > 0) checks.push({ target: 'every replay swapped in', actual: failed.map(([name, state]) => `${name}: ${state}`).join(', '), pass: false })
    return [
      {
        figure: 'replay of the dashboard projections',
        value: eventsPerSecond,
        unit: 'events/s',
        baseline,
        ratio,
        checks,
        details: {
          logEvents: dataset.events,
          seconds: done.seconds,
          handledPerProjection: done.handled,
          states: done.states,
          peakRssMb: Math.round(peakMb),
          rssAtTenthMb: early === null ? null : Math.round(early / 1048576),
          rssAtEndMb: Math.round(endRss / 1048576),
          flatnessRule: `flat when the RSS sampled at the end is at most ${FLATNESS} × the RSS sampled when the slowest replay passed ${EARLY_FRACTION * 100}% of its events (100,000 of 1,000,000 in full mode)`,
          projections: Object.keys(done.states),
        },
      },
    ]
  },
}
