import { fork, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Child processes of a benchmark run: servers under load and load generators each get a process
 * of their own, so that the harness (and whatever it measures) never shares an event loop with
 * them. Every child started here is killed when the harness process exits, whatever happened.
 */

/** The repository's root: children run from it, so `--import tsx` resolves there. */
export const repositoryRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

const liveChildren = new Set<ChildProcess>()

process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
})

/** A TCP port nobody listens on right now, on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port'))))
    })
  })
}

export interface TypeScriptChild {
  process: ChildProcess
  /** the last lines it wrote to stdout and stderr, for error messages */
  outputTail(): string
  /** resolves with the exit code (or the signal's name) once it has exited */
  exited: Promise<number | string>
  /** SIGTERM, then SIGKILL when it has not exited within `graceMs` */
  stop(graceMs?: number): Promise<void>
}

/**
 * Starts a TypeScript module of this repository in a Node process of its own (through tsx), with
 * an IPC channel. Its output is kept (the last lines) rather than printed, unless `echo` is set.
 */
export function forkTypeScript(
  modulePath: string,
  options: { args?: string[]; env?: Record<string, string>; nodeArgs?: string[]; echoPrefix?: string; profileLabel?: string } = {},
): TypeScriptChild {
  const child = fork(modulePath, options.args ?? [], {
    cwd: repositoryRoot,
    execArgv: [...profilingArgs(options.profileLabel), ...(options.nodeArgs ?? []), '--import', 'tsx'],
    env: { ...childEnvironment(), ...options.env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  liveChildren.add(child)
  const tail: string[] = []
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8')
    if (options.echoPrefix) {
      for (const line of text.split('\n')) if (line.trim()) process.stderr.write(`${options.echoPrefix} ${line}\n`)
    }
    tail.push(text)
    while (tail.length > 40) tail.shift()
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      liveChildren.delete(child)
      resolve(code ?? signal ?? 'unknown')
    })
  })
  return {
    process: child,
    outputTail: () => tail.join('').split('\n').slice(-25).join('\n'),
    exited,
    async stop(graceMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      let timer: NodeJS.Timeout | undefined
      const killed = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL')
          resolve()
        }, graceMs)
      })
      await Promise.race([exited.then(() => undefined), killed])
      clearTimeout(timer)
      await exited
    },
  }
}

/**
 * Waits for the child's first IPC message that `accept` recognises; fails when the child exits
 * first or `timeoutMs` passes (with the child's last output in the message).
 */
export function awaitMessage<T>(child: TypeScriptChild, accept: (message: unknown) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown) => {
      const value = accept(message)
      if (value !== undefined) {
        finish()
        resolve(value)
      }
    }
    const timer = setTimeout(() => {
      finish()
      reject(new Error(`${what}: nothing within ${Math.round(timeoutMs / 1000)} s\n${child.outputTail()}`))
    }, timeoutMs)
    const finish = () => {
      clearTimeout(timer)
      child.process.off('message', onMessage)
    }
    child.process.on('message', onMessage)
    child.exited.then((code) => {
      finish()
      reject(new Error(`${what}: the process exited (${code}) first\n${child.outputTail()}`))
    })
  })
}

/**
 * With BENCH_PROFILE_DIR set (`npm run bench -- --profile <dir>`), the servers measured (the
 * service, the baseline servers) run under --cpu-prof and leave their profiles in
 * <dir>/<label>-<hhmmss>-<n>/ when they exit (one per thread; the main thread's is the largest);
 * bench/harness/profileSummary.ts summarises them.
 */
let profiledChildren = 0

function profilingArgs(label: string | undefined): string[] {
  const directory = process.env.BENCH_PROFILE_DIR
  if (!label || !directory) return []
  profiledChildren++
  const stamp = new Date().toISOString().slice(11, 19).replace(/:/g, '')
  // a folder per process: its main thread and tsx's loader thread each leave a profile there
  return ['--cpu-prof', `--cpu-prof-dir=${path.join(directory, `${label}-${stamp}-${profiledChildren}`)}`]
}

/** What a child inherits: the path and locale, not the harness's own configuration variables. */
function childEnvironment(): Record<string, string> {
  const keep = ['PATH', 'HOME', 'LANG', 'TZ', 'TMPDIR', 'NODE_OPTIONS', 'TEST_POSTGRES_URL', 'TEST_REDIS_URL', 'BENCH_PROFILE_DIR']
  const env: Record<string, string> = {}
  for (const name of keep) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  return env
}

/**
 * Starts a server module that tells its parent `{ kind: 'listening', port }` over IPC once it
 * listens (and closes on SIGTERM), and answers where it listens.
 */
export async function startListeningChild(
  modulePath: string,
  options: { env?: Record<string, string>; nodeArgs?: string[]; profileLabel?: string } = {},
): Promise<{ baseUrl: string; pid: number; stop(): Promise<void> }> {
  const child = forkTypeScript(modulePath, options)
  try {
    const port = await awaitMessage(
      child,
      (message) => {
        const candidate = message as { kind?: string; port?: number } | null
        return candidate?.kind === 'listening' && typeof candidate.port === 'number' ? candidate.port : undefined
      },
      60_000,
      `starting ${path.basename(modulePath)}`,
    )
    return { baseUrl: `http://127.0.0.1:${port}`, pid: child.process.pid ?? 0, stop: () => child.stop(10_000) }
  } catch (error) {
    await child.stop(2000)
    throw error
  }
}
