import type { Kysely } from 'kysely'
import { listPlatformAdmins, setPlatformAdmin, type CredentialTables } from '../auth/credentialStore.ts'
import { CommandFailed, openForOps, parseOptions, runOpsCommand, textTable, UsageError, type OpenServices, type OpsIo } from './opsCommandLine.ts'

/**
 * `mifumo admin`: who the platform administrators are. Granting is an operator's act on the
 * database, never an HTTP route: a platform administrator reads every tenant's events through the
 * admin endpoints. The flag lives on the user's credentials; tokens issued from then on (sign-in,
 * refresh, tenant switch, `mifumo token`) carry it as the `padm` claim. A revocation reaches the
 * user's next refresh: an access token issued before keeps working on the admin endpoints until it
 * expires (JWT_ACCESS_TTL). An API key never carries it.
 */

export const ADMIN_USAGE = `Usage: mifumo admin <command> [options]

Commands:
  grant --email <email>      Make the user with this email a platform administrator: their next
                             sign-in or token refresh gives them the admin endpoints (/api/admin/).
  revoke --email <email>     Take it back: their next token refresh no longer carries it (an
                             access token issued before works until it expires, JWT_ACCESS_TTL).
  list                       The platform administrators.

Options:
  --json                     JSON lines, even in a terminal (the default when piped)
  --table                    plain text, even when piped
`

export interface AdminCommandDeps extends OpsIo {
  openServices: OpenServices
}

const EMAIL = /^[^\s@]+@[^\s@]+$/

/** Runs `mifumo admin …`; answers the exit code. */
export async function adminCommand(args: string[], deps: AdminCommandDeps): Promise<number> {
  return runOpsCommand('admin', ADMIN_USAGE, deps, () => admin(args, deps))
}

async function admin(args: string[], deps: AdminCommandDeps): Promise<void> {
  const [action, ...rest] = args
  if (action === undefined || action === 'help' || action === '--help' || action === '-h') {
    deps.stdout(ADMIN_USAGE)
    return
  }
  if (action !== 'grant' && action !== 'revoke' && action !== 'list') throw new UsageError(`admin takes grant, revoke or list, got "${action}"`)
  const { values } = parseOptions(rest, {
    email: { type: 'string' },
    json: { type: 'boolean', default: false },
    table: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  })
  if (values.help) {
    deps.stdout(ADMIN_USAGE)
    return
  }
  if (values.json && values.table) throw new UsageError('--json and --table go separately')
  const json = values.json || (!values.table && !(deps.isTTY ?? process.stdout.isTTY === true))
  if (action === 'list') {
    if (values.email !== undefined) throw new UsageError('admin list takes no --email')
    await withDatabase(deps, async (db) => {
      const admins = (await listPlatformAdmins(db)).map((row) => ({ email: row.email, user_id: row.userId, registered_at: row.createdAt.toISOString() }))
      if (json) deps.stdout(admins.map((row) => `${JSON.stringify(row)}\n`).join(''))
      else if (admins.length === 0) deps.stdout('No platform administrators.\n')
      else deps.stdout(textTable(['EMAIL', 'USER ID', 'REGISTERED AT'], admins.map((row) => [row.email, row.user_id, row.registered_at])))
    })
    return
  }
  const email = values.email?.trim().toLowerCase()
  if (!email) throw new UsageError(`admin ${action} needs --email <email>`)
  if (!EMAIL.test(email) || email.length > 254) throw new UsageError(`--email must be an email address, got "${values.email}"`)
  const granting = action === 'grant'
  await withDatabase(deps, async (db) => {
    const change = await setPlatformAdmin(db, email, granting)
    if (!change) throw new CommandFailed(`no user with email ${email}`)
    if (json) {
      deps.stdout(`${JSON.stringify({ email: change.email, user_id: change.userId, platform_admin: granting, changed: change.changed })}\n`)
      return
    }
    const who = `${change.email} (${change.userId})`
    if (!change.changed) deps.stdout(granting ? `${who} is already a platform administrator.\n` : `${who} is not a platform administrator.\n`)
    else if (granting) deps.stdout(`${who} is now a platform administrator: their next sign-in or token refresh carries it.\n`)
    else deps.stdout(`${who} is no longer a platform administrator: their next token refresh drops it (access tokens issued before expire within JWT_ACCESS_TTL).\n`)
  })
}

async function withDatabase(deps: AdminCommandDeps, body: (db: Kysely<CredentialTables>) => Promise<void>): Promise<void> {
  const services = await openForOps(deps, deps.openServices)
  try {
    await body(services.database.db as Kysely<CredentialTables>)
  } finally {
    await services.close()
  }
}
