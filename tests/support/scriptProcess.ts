import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** The repository's root, where its entry scripts (server.ts, cli.ts) live. */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface ScriptExit {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs one of the repository's scripts as its own process (through tsx), with only PATH and the
 * given variables in its environment, and answers its exit code and output. `onLine` sees each
 * line of its standard output as it comes (with the process, to signal it); a process still
 * running after a minute is killed.
 */
export function runScript(script: string, args: string[], env: Record<string, string>, onLine?: (line: string, child: ChildProcess) => void): Promise<ScriptExit> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', ...env } })
    let stdout = ''
    let stderr = ''
    let pending = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) onLine?.(line, child)
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.on('error', reject)
    child.on('exit', (code) => {
      clearTimeout(killer)
      resolve({ code, stdout, stderr })
    })
  })
}
