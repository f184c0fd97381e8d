/**
 * The delivery figure on its own (the script `bench:delivery` points here): the same as
 * `npm run bench -- delivery`, which it runs. Kept so that the old command still works; the
 * measurement lives in bench/figures/delivery.ts and its baseline in bench/baselines/bullmqNoop.ts.
 *
 *   npm run bench:delivery -- [--quick | --smoke]
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const runner = fileURLToPath(new URL('./run.ts', import.meta.url))
const result = spawnSync(process.execPath, ['--import', 'tsx', runner, ...process.argv.slice(2), 'delivery'], { stdio: 'inherit' })
process.exit(result.status ?? 1)
