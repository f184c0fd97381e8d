import t from 'tap'
import { atLeastRatio, atMost } from '../../bench/harness/benchmark.ts'
import { formatMarkdown, formatTerminalTable, loadTroubles, replaceResultsSection, type RunReport } from '../../bench/harness/report.ts'

/** The benchmark table, from a made-up run: one line per check, crashed and troubled figures marked. */

const bare = { name: 'bareFastify', value: 20_000, unit: 'requests/s' }

function sampleReport(): RunReport {
  return {
    mode: 'full',
    startedAt: '2026-11-22T12:00:00.000Z',
    durationSeconds: 600,
    machine: { cpu: 'Some CPU', cores: 2, memoryGb: 8, os: 'Linux 6 x64', node: 'v20.0.0', postgres: '15.2', redis: '7.0.15', loadAverageAtStart: [1.5], loadAverageAtEnd: [2.5] },
    selected: ['reads', 'replay'],
    allFigures: true,
    figures: [
      {
        name: 'reads',
        description: 'dashboard reads',
        status: 'ok',
        startedAt: '2026-11-22T12:00:00.000Z',
        durationSeconds: 100,
        results: [
          {
            figure: 'GET activity/recent',
            value: 12_000,
            unit: 'requests/s',
            baseline: bare,
            ratio: 0.6,
            checks: [atLeastRatio(0.6, 0.5, 'bare Fastify'), atMost('p99', 12.3, 10, 'ms')],
            details: { load: { non2xx: 3, errors: 1, runs: [{ non2xx: 3, errors: 1 }] } },
          },
        ],
      },
      { name: 'replay', description: 'replay', status: 'crashed', error: 'dataset: no database\nat somewhere', startedAt: '2026-11-22T12:02:00.000Z', durationSeconds: 1, results: [] },
    ],
    baselines: { bareFastify: bare },
    dataset: null,
  }
}

t.test('the markdown table has a line per check, the machine, and marks crashes and load errors', async (t) => {
  const markdown = formatMarkdown(sampleReport())
  t.match(markdown, /^Measured 2026-11-22 12:00 UTC in full mode \(10 min\) on Some CPU, 2 cores, 8 GB/)
  t.match(markdown, /\| GET activity\/recent ⚠ \| 12,000 requests\/s \| bare Fastify 20,000 requests\/s \| 0\.60 × \| ≥ 0\.5 × bare Fastify \| 0\.60 × \| pass \|/)
  t.match(markdown, /\|  \|  \|  \|  \| p99 ≤ 10 ms \| 12\.3 ms \| FAIL \|/)
  t.match(markdown, /\| replay \| — \| — \| — \| — \| crashed: dataset: no database \| FAIL \|/)
  t.match(markdown, /1 checks pass, 2 fail \(crashed: replay\)/)
  t.match(markdown, /⚠ GET activity\/recent: 3 non-2xx answers, 1 errors under load/)
  t.match(markdown, /^Time: reads 100 s, replay 1 s; 600 s in all\.$/m)
  t.match(formatTerminalTable(sampleReport()), /GET activity\/recent ⚠\s+12,000 requests\/s/)
})

t.test('load troubles are summed over nested details, not counted again from the runs', async (t) => {
  t.same(loadTroubles({ a: { non2xx: 2, errors: 0, runs: [{ non2xx: 2 }] }, b: { errors: 4 } }), { non2xx: 2, errors: 4 })
  t.same(loadTroubles(undefined), { non2xx: 0, errors: 0 })
})

t.test('the README section between the markers is replaced, the rest kept; no markers, no change', async (t) => {
  const readme = 'intro\n<!-- bench:results:start -->\nold table\n<!-- bench:results:end -->\noutro\n'
  t.equal(replaceResultsSection(readme, 'new table\n'), 'intro\n<!-- bench:results:start -->\nnew table\n<!-- bench:results:end -->\noutro\n')
  t.equal(replaceResultsSection('no markers here', 'x'), null)
})
