import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { removeQueueKeys } from '../../infra/queue/queueKeys.ts'
import { forkTypeScript, freePort, repositoryRoot } from './childProcesses.ts'

/**
 * The service under load: server.ts in a process of its own (through tsx, as `npm start` runs it)
 * on a free port, configured for measuring: warnings only in the log, no rate limits, no send
 * workers unless the caller turns them on, queues under a Redis key prefix of its own (removed
 * when it stops). `env` overrides any of that.
 */

export interface ServiceOptions {
  databaseUrl: string
  redisUrl?: string
  env?: Record<string, string>
  /** extra Node options for the service's process, e.g. ['--cpu-prof', '--cpu-prof-dir=/some/dir'] */
  nodeArgs?: string[]
  /** the name of its CPU profile's folder when the run profiles (--profile): <label>-<hhmmss>-<n> */
  profileLabel?: string
  /** print the service's output as it comes, prefixed (default: kept, shown only when it fails to start) */
  echoOutput?: boolean
}

export interface RunningService {
  baseUrl: string
  /** the JWT secret the service signs with (tokens can be made without logging in) */
  jwtSecret: string
  /** the Redis key prefix of its queues, when it has Redis */
  queuePrefix: string
  pid: number
  /** SIGTERM (a graceful shutdown), SIGKILL after 15 s; then its queue keys are removed */
  stop(): Promise<void>
}

const serverModule = path.join(repositoryRoot, 'server.ts')

export async function startService(options: ServiceOptions): Promise<RunningService> {
  const port = await freePort()
  const jwtSecret = randomBytes(36).toString('base64url')
  const queuePrefix = `bench-service-${randomBytes(4).toString('hex')}`
  const env: Record<string, string> = {
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    DATABASE_URL: options.databaseUrl,
    ...(options.redisUrl ? { REDIS_URL: options.redisUrl } : {}),
    JWT_SECRET: jwtSecret,
    RATE_LIMITS_ENABLED: 'false',
    DELIVERY_WORKERS: 'false',
    QUEUE_PREFIX: queuePrefix,
    ...options.env,
  }
  const child = forkTypeScript(serverModule, {
    env,
    profileLabel: options.profileLabel ?? 'service',
    ...(options.nodeArgs ? { nodeArgs: options.nodeArgs } : {}),
    ...(options.echoOutput ? { echoPrefix: `[service :${port}]` } : {}),
  })
  const baseUrl = `http://127.0.0.1:${port}`
  const actualPrefix = env.QUEUE_PREFIX ?? queuePrefix
  const stop = async () => {
    await child.stop(15_000)
    if (options.redisUrl) await removeQueueKeys(options.redisUrl, actualPrefix)
  }
  try {
    await waitUntilReady(baseUrl, child.exited, () => child.outputTail())
  } catch (error) {
    await stop().catch(() => undefined)
    throw error
  }
  return { baseUrl, jwtSecret: env.JWT_SECRET ?? jwtSecret, queuePrefix: actualPrefix, pid: child.process.pid ?? 0, stop }
}

/** Asks /ready every 100 ms (not faster: the harness must not load the machine) for up to 60 s. */
async function waitUntilReady(baseUrl: string, exited: Promise<number | string>, outputTail: () => string): Promise<void> {
  let exitCode: number | string | undefined
  void exited.then((code) => (exitCode = code))
  const deadline = Date.now() + 60_000
  let last = 'no answer'
  while (Date.now() < deadline) {
    if (exitCode !== undefined) throw new Error(`the service exited (${exitCode}) before it was ready\n${outputTail()}`)
    try {
      const response = await fetch(`${baseUrl}/ready`, { signal: AbortSignal.timeout(3000) })
      if (response.ok) return
      last = `${response.status} ${(await response.text()).slice(0, 300)}`
    } catch (error) {
      last = error instanceof Error ? error.message : String(error)
    }
    await sleep(100)
  }
  throw new Error(`the service was not ready within 60 s (last answer: ${last})\n${outputTail()}`)
}

