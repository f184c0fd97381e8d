// Runs before `npm start` and `npm test`: on a fresh clone (no node_modules, or a lock file newer
// than the installed tree) it installs exactly what package-lock.json pins, so each README command
// works with nothing done first. Node built-ins only: nothing is installed yet when this runs.
import { existsSync, statSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import path from 'node:path'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const installedMarker = path.join(root, 'node_modules', '.package-lock.json')
const lockFile = path.join(root, 'package-lock.json')

const upToDate = existsSync(installedMarker) && statSync(installedMarker).mtimeMs >= statSync(lockFile).mtimeMs
if (!upToDate) {
  console.log('[setup] installing dependencies from package-lock.json (npm ci)…')
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    console.error('[setup] npm ci failed; see the output above')
    process.exit(result.status ?? 1)
  }
}

// Tests: tap compiles its Test class for the plugins listed in package.json ("tap.plugin"). It
// rebuilds by itself when they change, but the run that rebuilds still starts its files with the
// old loaders, so build it here, once per install, before the first test run.
if (process.argv.includes('--tap')) {
  const { readFileSync, writeFileSync } = await import('node:fs')
  const plugins = JSON.stringify(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).tap?.plugin ?? [])
  const marker = path.join(root, 'node_modules', '.tap-plugins-built')
  const built = existsSync(marker) ? readFileSync(marker, 'utf8') : ''
  if (built !== plugins) {
    console.log('[setup] building tap for the configured plugins…')
    const npx = process.platform === 'win32' ? 'npx.cmd' : 'npx'
    const result = spawnSync(npx, ['tap', 'build'], { cwd: root, stdio: 'inherit' })
    if (result.status !== 0) process.exit(result.status ?? 1)
    writeFileSync(marker, plugins)
  }
}
