import path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { BaselineResult, BenchContext } from '../harness/benchmark.ts'
import { startListeningChild } from '../harness/childProcesses.ts'
import { loadSettings, runLoad } from '../harness/load.ts'

/**
 * Bare Fastify returning a constant JSON, in a process of its own, under the same load as the
 * service's read figures (autocannon, 50 connections, the mode's durations and runs): the most a
 * Fastify process can answer on this machine, the ceiling of any HTTP figure.
 */
const serverModule = path.join(path.dirname(fileURLToPath(import.meta.url)), 'servers', 'bareFastifyServer.ts')

export async function measureBaseline(ctx: BenchContext): Promise<BaselineResult> {
  const server = await startListeningChild(serverModule, { profileLabel: 'bareFastify' })
  try {
    const settings = loadSettings(ctx.mode)
    ctx.log(`bare Fastify: ${settings.runs} × ${settings.durationSeconds} s at ${settings.connections} connections`)
    const load = await runLoad({ url: `${server.baseUrl}/constant`, ...settings })
    if (load.requestsPerSecond <= 0) throw new Error(`bare Fastify answered nothing (${load.non2xx} non-2xx, ${load.errors} errors)`)
    return { name: 'bareFastify', value: load.requestsPerSecond, unit: 'requests/s', details: { ...load, connections: settings.connections } }
  } finally {
    await server.stop()
  }
}
