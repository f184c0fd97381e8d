import net from 'node:net'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { pino, type Logger } from 'pino'
import type { SqlDatabase } from '../database/sqlDatabase.ts'
import type { EventStore } from '../eventStore/eventStore.ts'
import { ConfigError, loadConfig, type Config } from '../config.ts'

/**
 * What the operator commands of infra/ops (`mifumo streams`, `mifumo admin`) share: where they
 * write, how they open the service's adapters (the composition root's openServices, handed in by
 * cli.ts: infra imports nothing of the layers above it) and how they fail.
 * Exit codes: 0 done, 1 the command failed, 2 the command line was wrong.
 */

/** Where a command writes, and its environment. */
export interface OpsIo {
  stdout(text: string): void
  stderr(text: string): void
  env: NodeJS.ProcessEnv
  /** is standard output a terminal (tables) rather than a pipe (JSON lines)? default: process.stdout.isTTY */
  isTTY?: boolean
}

/** The part of the services an operator command uses. */
export interface OpsServices {
  store: EventStore
  database: SqlDatabase
  close(): Promise<void>
}

export type OpenServices = (config: Config, options: { logger: Logger }) => Promise<OpsServices>

/** The command line was wrong: exit 2, with the command's usage. */
export class UsageError extends Error {}

/** The command could not do what was asked: exit 1, with the message. */
export class CommandFailed extends Error {}

export function parseOptions<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, allowPositionals = false) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals })
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
}

/** A whole number from an option, within bounds (undefined when the option is absent). */
export function wholeNumber(raw: string | undefined, option: string, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!/^\d+$/.test(raw.trim()) || value < min || value > max) throw new UsageError(`${option} must be a whole number from ${min} to ${max}`)
  return value
}

/**
 * Refuses to open the embedded database (no DATABASE_URL) while a server listens where this
 * configuration's server would: the embedded database serves one process at a time.
 */
export async function refuseWhileEmbeddedServerRuns(config: Config): Promise<void> {
  if (!config.databaseUrl && (await somethingListens(config.host, config.port))) {
    throw new CommandFailed(
      `DATABASE_URL is not set and a server is listening on ${config.host}:${config.port}: the embedded database under ${config.dataDir} serves one process at a time. Stop the server first, or use PostgreSQL (DATABASE_URL).`,
    )
  }
}

/** Is something already listening where the server would? */
function somethingListens(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host, port })
    const done = (answer: boolean) => {
      socket.destroy()
      resolve(answer)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * The services as the server opens them, without projections and without delivery workers: an
 * operator command reads (and at most flips a credential flag), it does not take part in the work.
 * Logs go to standard error (warnings only, unless LOG_LEVEL is set): standard output is the answer.
 */
export async function openForOps(io: OpsIo, open: OpenServices): Promise<OpsServices> {
  let loaded: Config
  try {
    loaded = loadConfig(io.env)
  } catch (error) {
    if (error instanceof ConfigError) throw new CommandFailed(`configuration error: ${error.message}`)
    throw error
  }
  await refuseWhileEmbeddedServerRuns(loaded)
  const config: Config = { ...loaded, runProjections: false, delivery: { ...loaded.delivery, runWorkers: false } }
  const logger = pino({ level: io.env.LOG_LEVEL ? config.logLevel : 'warn' }, pino.destination(2))
  return open(config, { logger })
}

/** Runs a command body: its exit code, with usage errors and failures reported on standard error. */
export async function runOpsCommand(name: string, usage: string, io: OpsIo, body: () => Promise<void>): Promise<number> {
  try {
    await body()
    return 0
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`mifumo ${name}: ${error.message}\n\n${usage}`)
      return 2
    }
    if (error instanceof CommandFailed) {
      io.stderr(`mifumo ${name}: ${error.message}\n`)
      return 1
    }
    io.stderr(`mifumo ${name}: ${(error as Error).stack ?? String(error)}\n`)
    return 1
  }
}

/** Rows as a plain-text table: columns padded to their widest cell (at least `minWidths`), the last left ragged. */
export function textTable(header: readonly string[], rows: readonly (readonly string[])[], minWidths: readonly number[] = []): string {
  const widths = header.map((title, column) => Math.max(title.length, minWidths[column] ?? 0, ...rows.map((row) => (row[column] ?? '').length)))
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => (column === cells.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd()
  return `${[line(header), ...rows.map(line)].join('\n')}\n`
}
