#!/usr/bin/env -S node --import tsx
import { parseArgs, type ParseArgsConfig } from 'node:util'
import Fastify from 'fastify'
import { pino } from 'pino'
import * as composition from './app.ts'
import { createLogger, openServices, projections, type Services } from './app.ts'
import { loadUser, principalFor } from './commands/users/registration.ts'
import { ConfigError, loadConfig, type Config } from './infra/config.ts'
import { credentialStatusOf } from './infra/auth/credentialStore.ts'
import { adminCommand } from './infra/ops/adminCommand.ts'
import { CommandFailed, refuseWhileEmbeddedServerRuns, UsageError } from './infra/ops/opsCommandLine.ts'
import { streamsCommand } from './infra/ops/streamsCommand.ts'
import { projectionsCommand, replayCommand } from './projections/engine/projectionsCommand.ts'
import { userDescriber } from './commands/users/userDirectory.ts'
import { isEntryPoint } from './infra/entryPoint.ts'
import { authentication } from './infra/http/authentication.ts'
import { exitOnSignals, serve } from './server.ts'
import { randomUUID } from 'node:crypto'
import { creditBalance, purchaseCredits, type CreditBalance } from './commands/billing/smsCredits.ts'
import { systemActor, type CommandContext } from './commands/commandContext.ts'
import { sendQueueName } from './commands/messages/sendJobs.ts'
import { findTenant } from './commands/tenants/tenantCommands.ts'
import { isUuid } from './infra/ids.ts'
import { failedJobsTable, listFailedJobs, queuesWithFailedJobs, retryAllFailedJobs, retryFailedJob } from './infra/ops/failedJobs.ts'
import { openQueueSystem } from './infra/queue/openQueueSystem.ts'
import type { QueueSystem } from './infra/queue/jobQueue.ts'

/**
 * `mifumo`, the operator's command. Configuration comes from the same environment variables as
 * the server (see infra/config.ts), so a token printed here is signed with the server's secret.
 * Exit codes: 0 done, 1 the command failed, 2 the command line was wrong.
 */

const USAGE = `Usage: mifumo <command> [options]

Commands:
  serve                      Start the HTTP server (what npm start runs).
  worker                     Run the delivery workers (and the projections) without the HTTP
                             server, to scale sending out; needs REDIS_URL. Stops gracefully on
                             SIGTERM or SIGINT: active jobs finish first.
  token --user <user-id>     Print an access token for a user.
        [--tenant <tenant-id>]   tenant to act in (default: the user's first tenant)
        [--ttl <duration>]       lifetime: 900, 15m, 1h, 7d (default: JWT_ACCESS_TTL, 15m)
        [--json]                 print {access, refresh, user_id, tenant_id, role, expires_in}
  jobs failed                List the jobs that failed after their last attempt, newest first;
        [--queue <name>]         one queue (default: every queue with failed jobs)
        [--limit <n>]            at most n jobs (default 50)
        [--json]                 print them as JSON instead of a table
  jobs retry <job-id>        Put a failed job back to work (with its full number of tries);
        [--all]                  every failed job instead of one
        [--queue <name>]         only in this queue
                             The jobs commands need REDIS_URL (and QUEUE_PREFIX if the server
                             sets one): the embedded default's jobs live in the server's memory.
  credits --tenant <id>      Show a tenant's SMS balance (parts).
        [--add <parts>]          add purchased SMS parts first, as the system
        [--reason <text>]        why (recorded with the purchase)
        [--json]                 print {tenant_id, tenant_name, added, available_parts, ...}
  streams categories|list|read|log|show
                             Inspect the event log: categories and streams with counts, one
                             stream forward or backward, the global log with filters (--type,
                             --category, --tenant, --from, --to) or live (--follow), one event
                             with its metadata. Tables in a terminal, JSON lines when piped
                             (--json). \`mifumo streams help\` for every option.
  admin grant|revoke --email <email>, admin list
                             Platform administrators (the admin endpoints are theirs).
  help                       Show this help (also --help, -h).

  projections [--json]       Every projection: version, state, checkpoint, lag, last error.
  replay <projection>... | --all [--no-wait] [--json]
                             Rebuild projections into new tables beside the serving ones and
                             swap them in once caught up, with a progress bar each (a job in the
                             workers with REDIS_URL, in this process otherwise).
  replay --cancel <projection>...
                             Cancel replays under way.

Configuration is read from the environment: DATABASE_URL (unset: the embedded database under
DATA_DIR), JWT_SECRET (token needs the server's), PORT, HOST, LOG_LEVEL and the others the
README lists.
`

/** Where the command writes; tests and the process entry both pass one. */
export interface Io {
  stdout(text: string): void
  stderr(text: string): void
  env: NodeJS.ProcessEnv
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
}


function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

function configFrom(env: NodeJS.ProcessEnv): Config {
  try {
    return loadConfig(env)
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandFailed(`configuration error: ${error.message}`)
    throw error
  }
}

/** Seconds from "3600", "90s", "15m", "1h" or "7d"; at most 30 days. */
export function parseTtl(raw: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(raw.trim())
  if (!match) throw new UsageError(`--ttl must be a duration like 900, 15m, 1h or 7d, got "${raw}"`)
  const seconds = Number(match[1]) * { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd']
  if (seconds < 1 || seconds > 30 * 86400) throw new UsageError('--ttl must be between 1 second and 30 days')
  return seconds
}

async function token(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {
    user: { type: 'string' },
    tenant: { type: 'string' },
    ttl: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  })
  if (values.help) {
    io.stdout(USAGE)
    return
  }
  if (!values.user) throw new UsageError('token needs --user <user-id>')
  const ttlOption = values.ttl === undefined ? undefined : parseTtl(values.ttl)

  const loaded = configFrom(io.env)
  if (loaded.jwt.secretIsEphemeral) {
    throw new CommandFailed(
      'JWT_SECRET is not set. The server would not accept a token signed with a throwaway secret: set JWT_SECRET to the same value the server uses.',
    )
  }
  await refuseWhileEmbeddedServerRuns(loaded)
  const config: Config = { ...loaded, runProjections: false }
  const ttl = ttlOption ?? config.jwt.accessTtlSeconds

  // logs go to stderr: stdout carries only the token
  const logger = pino({ level: io.env.LOG_LEVEL ? config.logLevel : 'warn' }, pino.destination(2))
  const services = await openServices(config, { logger })
  try {
    const user = await loadUser(services.store, values.user)
    if (!user) throw new CommandFailed(`no active user with id ${values.user}`)
    if (user.memberships.length === 0) throw new CommandFailed(`user ${user.userId} (${user.email}) belongs to no tenant`)
    // the credentials as they are now: the version (a password change revokes these tokens too) and the platform-admin flag
    const status = await credentialStatusOf(services.database.db, user.userId)
    const principal = principalFor(user, values.tenant ?? null, { platformAdmin: status?.platformAdmin === true })
    if (!principal.tenantId || !principal.role) {
      const tenants = user.memberships.map((m) => `${m.tenantId} (${m.tenantName})`).join(', ')
      throw new CommandFailed(`user ${user.userId} (${user.email}) is not a member of tenant ${values.tenant}; their tenants: ${tenants}`)
    }

    // the server's own signing code, with the lifetime asked for
    const signer = Fastify({ logger: false })
    await signer.register(authentication, { secret: config.jwt.secret, accessTtlSeconds: ttl, refreshTtlSeconds: config.jwt.refreshTtlSeconds })
    await signer.ready()
    // under the user's current credential version: a password change revokes these tokens too
    const tokens = signer.issueTokens(principal, { credentialVersion: status?.version ?? 0 })
    await signer.close()

    if (values.json) {
      const output = { ...tokens, user_id: principal.userId, tenant_id: principal.tenantId, role: principal.role, expires_in: ttl }
      io.stdout(`${JSON.stringify(output, null, 2)}\n`)
    } else {
      io.stdout(`${tokens.access}\n`)
    }
  } finally {
    await services.close()
  }
}

/** What a start function may answer: something to stop, or nothing. */
type Stoppable = void | undefined | null | (() => unknown) | { close(): unknown } | { stop(): unknown } | readonly Stoppable[]

function stopperOf(started: unknown): () => Promise<void> {
  if (started === undefined || started === null) return async () => undefined
  if (typeof started === 'function') return async () => void (await (started as () => unknown)())
  if (Array.isArray(started)) {
    const stoppers = started.map(stopperOf)
    return async () => void (await Promise.all(stoppers.map((stop) => stop())))
  }
  const candidate = started as { close?: unknown; stop?: unknown }
  if (typeof candidate.close === 'function') return async () => void (await (candidate as { close(): unknown }).close())
  if (typeof candidate.stop === 'function') return async () => void (await (candidate as { stop(): unknown }).stop())
  return async () => undefined
}

/**
 * `mifumo worker`: the services as `serve` opens them, without the HTTP server, running the
 * delivery workers (app.ts's startDeliveryWorkers) and, unless RUN_PROJECTIONS=false, the
 * projections. Runs until SIGTERM or SIGINT: the workers finish their active jobs, then the
 * services close, then it exits 0.
 */
async function worker(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, { help: { type: 'boolean', short: 'h', default: false } })
  if (values.help) {
    io.stdout(USAGE)
    return
  }
  const loaded = configFrom(io.env)
  if (!loaded.redisUrl) {
    throw new CommandFailed(
      'REDIS_URL is not set. Without Redis the jobs live in the memory of the serving process, which runs its own workers: a separate worker needs the queues in Redis.',
    )
  }
  const startDeliveryWorkers = (composition as Record<string, unknown>)['startDeliveryWorkers']
  const canStart = typeof startDeliveryWorkers === 'function'
  // the workers are started here, once, not also by openServices
  const config: Config = canStart ? { ...loaded, delivery: { ...loaded.delivery, runWorkers: false } } : loaded
  const logger = createLogger(config)
  const services: Services = await openServices(config, { logger })
  let stopWorkers: () => Promise<void>
  try {
    stopWorkers = canStart ? stopperOf(await (startDeliveryWorkers as (services: Services) => Stoppable | Promise<Stoppable>)(services)) : async () => undefined
  } catch (error) {
    await services.close().catch(() => undefined)
    throw error
  }
  let stopped: Promise<void> | undefined
  exitOnSignals(
    {
      stop: () =>
        (stopped ??= (async () => {
          // workers first: their active jobs finish while the services they use are still open
          try {
            await stopWorkers()
          } finally {
            await services.close()
          }
        })()),
    },
    logger,
  )
  const projections = config.runProjections ? 'the projections' : 'no projections (RUN_PROJECTIONS=false)'
  if (canStart) logger.info(`worker ready: running the delivery workers and ${projections}`)
  else logger.warn(`worker ready: the delivery workers are not available in this build; running ${projections} only`)
}

/** The options of `jobs failed` and `jobs retry` (retry takes the job id as a positional argument). */
function parseJobs(args: string[], allowPositionals: boolean) {
  try {
    return parseArgs({
      args,
      options: {
        queue: { type: 'string' },
        limit: { type: 'string' },
        json: { type: 'boolean', default: false },
        all: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals,
    })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

/**
 * `mifumo jobs failed|retry`: jobs kept as failed after their last attempt, in Redis. Without
 * REDIS_URL the jobs live in the serving process's memory: nothing to see from here (exit 1).
 */
async function jobs(args: string[], io: Io): Promise<void> {
  const [action, ...rest] = args
  if (action === undefined || action === 'help' || action === '--help' || action === '-h') {
    io.stdout(USAGE)
    return
  }
  if (action !== 'failed' && action !== 'retry') throw new UsageError(`jobs takes "failed" or "retry", got "${action}"`)
  const { values, positionals } = parseJobs(rest, action === 'retry')
  if (values.help) {
    io.stdout(USAGE)
    return
  }
  if (values.queue !== undefined && !/^[^:\s]{1,100}$/.test(values.queue)) throw new UsageError('--queue must be a queue name (no spaces or ":")')
  let limit = 50
  if (action === 'failed') {
    if (values.all) throw new UsageError('--all goes with jobs retry')
    if (values.limit !== undefined) {
      limit = Number(values.limit)
      if (!/^\d+$/.test(values.limit) || limit < 1 || limit > 10_000) throw new UsageError('--limit must be a whole number from 1 to 10000')
    }
  } else {
    if (values.limit !== undefined) throw new UsageError('--limit goes with jobs failed')
    if (values.all === (positionals.length > 0) || positionals.length > 1) throw new UsageError('jobs retry takes one job id, or --all')
  }

  const config = configFrom(io.env)
  if (!config.redisUrl) {
    throw new CommandFailed(
      'REDIS_URL is not set. Without Redis the jobs live in the memory of the serving process (the embedded default): there is nothing to inspect or retry from another process. Set REDIS_URL (and QUEUE_PREFIX) to those the server uses.',
    )
  }
  const redisUrl = config.redisUrl
  let system: QueueSystem
  try {
    system = await openQueueSystem({ redisUrl, prefix: config.queue.prefix, onError: () => undefined })
  } catch (error) {
    throw new CommandFailed(`cannot reach Redis (REDIS_URL): ${(error as Error).message}`)
  }
  try {
    const queues = values.queue ? [values.queue] : [...new Set([sendQueueName, ...(await queuesWithFailedJobs(redisUrl, config.queue.prefix))])].sort()
    if (action === 'failed') {
      const rows = await listFailedJobs(system, queues, limit)
      io.stdout(values.json ? `${JSON.stringify(rows, null, 2)}\n` : failedJobsTable(rows))
      return
    }
    if (values.all) {
      const retried = await retryAllFailedJobs(system, queues)
      const total = Object.values(retried).reduce((sum, n) => sum + n, 0)
      if (values.json) io.stdout(`${JSON.stringify({ retried: total, by_queue: retried }, null, 2)}\n`)
      else io.stdout(`Retried ${total} failed job${total === 1 ? '' : 's'}${total > 0 ? ` (${Object.entries(retried).filter(([, n]) => n > 0).map(([queue, n]) => `${queue}: ${n}`).join(', ')})` : ''}.\n`)
      return
    }
    const jobId = positionals[0]!
    const queue = await retryFailedJob(system, queues, jobId)
    if (!queue) throw new CommandFailed(`no failed job ${jobId} in ${values.queue ? `queue ${values.queue}` : `the queues ${queues.join(', ')}`}`)
    if (values.json) io.stdout(`${JSON.stringify({ retried: 1, id: jobId, queue }, null, 2)}\n`)
    else io.stdout(`Retried job ${jobId} on queue ${queue}.\n`)
  } finally {
    await system.close()
  }
}

/** `mifumo credits --tenant <id> [--add <parts>]`: a tenant's SMS balance, after an optional top-up by the system. */
async function credits(args: string[], io: Io): Promise<void> {
  const { values } = parse(args, {
    tenant: { type: 'string' },
    add: { type: 'string' },
    reason: { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  })
  if (values.help) {
    io.stdout(USAGE)
    return
  }
  if (!values.tenant) throw new UsageError('credits needs --tenant <tenant-id>')
  if (!isUuid(values.tenant)) throw new UsageError('--tenant must be a tenant id (a UUID)')
  let add: number | null = null
  if (values.add !== undefined) {
    add = Number(values.add)
    if (!/^\d+$/.test(values.add) || add < 1 || add > 10_000_000) throw new UsageError('--add must be a whole number of SMS parts from 1 to 10000000')
  }
  if (values.reason !== undefined && add === null) throw new UsageError('--reason goes with --add')

  const loaded = configFrom(io.env)
  await refuseWhileEmbeddedServerRuns(loaded)
  // no projections and no workers: this process only reads and appends to the ledger
  const config: Config = { ...loaded, runProjections: false, delivery: { ...loaded.delivery, runWorkers: false } }
  const logger = pino({ level: io.env.LOG_LEVEL ? config.logLevel : 'warn' }, pino.destination(2))
  const services = await openServices(config, { logger })
  try {
    const tenantId = values.tenant.toLowerCase()
    const tenant = await findTenant(services.store, tenantId)
    if (!tenant) throw new CommandFailed(`no tenant with id ${tenantId}`)
    const now = services.clock.now()
    let balance: CreditBalance
    const reason = values.reason?.trim() || 'Added by an operator (mifumo credits)'
    if (add !== null) {
      const context: CommandContext = { tenantId, actor: systemActor, correlationId: randomUUID(), causationId: null, ip: null, userAgent: 'mifumo credits', now }
      balance = (await purchaseCredits(services.store, context, add, reason)).balance
    } else {
      balance = await creditBalance(services.store, tenantId, now)
    }
    const { ledger } = balance
    if (values.json) {
      const output = {
        tenant_id: tenantId,
        tenant_name: tenant.name,
        added: add,
        available_parts: balance.availableParts,
        period: ledger.period,
        included_allowance: ledger.includedAllowance,
        included_used: ledger.includedUsed,
        purchased: ledger.purchased,
      }
      io.stdout(`${JSON.stringify(output, null, 2)}\n`)
      return
    }
    const lines = [
      `Tenant: ${tenant.name} (${tenantId})`,
      ...(add !== null ? [`Added: ${add} SMS parts (${reason})`] : []),
      `Balance: ${balance.availableParts} SMS parts available`,
      `  included in ${ledger.period}: ${ledger.includedUsed} of ${ledger.includedAllowance} used`,
      `  purchased: ${ledger.purchased}`,
    ]
    io.stdout(`${lines.join('\n')}\n`)
  } finally {
    await services.close()
  }
}

/** Runs one command line; returns the exit code (serve and worker keep running and return 0 once started). */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [command, ...rest] = argv
  try {
    if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
      io.stdout(USAGE)
      return 0
    }
    if (command === 'serve') {
      const { values } = parse(rest, { help: { type: 'boolean', short: 'h', default: false } })
      if (values.help) {
        io.stdout(USAGE)
        return 0
      }
      await serve(io.env)
      return 0
    }
    if (command === 'token') {
      await token(rest, io)
      return 0
    }
    if (command === 'worker') {
      await worker(rest, io)
      return 0
    }
    if (command === 'jobs') {
      await jobs(rest, io)
      return 0
    }
    if (command === 'credits') {
      await credits(rest, io)
      return 0
    }
    if (command === 'streams') return await streamsCommand(rest, { ...io, openServices, users: userDescriber })
    if (command === 'admin') return await adminCommand(rest, { ...io, openServices })
    if (command === 'projections') return await projectionsCommand(rest, { ...io, openServices, projections })
    if (command === 'replay') {
      return await replayCommand(rest, {
        ...io,
        openServices,
        projections,
        onInterrupt: (handler) => {
          process.on('SIGINT', handler)
          return () => process.off('SIGINT', handler)
        },
      })
    }
    io.stderr(`mifumo: unknown command "${command}"\n\n${USAGE}`)
    return 2
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`mifumo ${command}: ${error.message}\n\n${USAGE}`)
      return 2
    }
    if (error instanceof CommandFailed) {
      io.stderr(`mifumo ${command}: ${error.message}\n`)
      return 1
    }
    io.stderr(`mifumo ${command}: ${(error as Error).stack ?? String(error)}\n`)
    return 1
  }
}

if (isEntryPoint(import.meta.url)) {
  const code = await main(process.argv.slice(2))
  // serve and worker keep the process alive on their own; every other command ends here
  if (!['serve', 'worker'].includes(process.argv[2] ?? '') || code !== 0) process.exitCode = code
}
