import type { Kysely } from 'kysely'
import { isValidTimeZone } from '../../infra/config.ts'
import { AuthenticationRequired, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import { streamName } from '../../infra/eventStore/eventStore.ts'
import {
  deleteCredentials,
  findCredentialsByEmail,
  insertCredentials,
  type CredentialTables,
} from '../../infra/auth/credentialStore.ts'
import { issueOneTimeToken, type OneTimeTokenTables } from '../../infra/auth/oneTimeTokens.ts'
import { hashPassword, verifyPassword } from '../../infra/auth/passwords.ts'
import type { MailMessage } from '../../infra/mail/mailer.ts'
import type { Principal } from '../../infra/http/authentication.ts'
import { newId } from '../../infra/ids.ts'
import type { CommandContext } from '../commandContext.ts'
import { loadAggregate, toNewEvents } from '../commandExecution.ts'
import { fold } from '../decider.ts'
import { tenantDecider } from '../tenants/tenantDecider.ts'
import { tenantStream } from '../tenants/tenantCommands.ts'
import { EMAIL_VERIFICATION_TTL_MS, verificationMail } from './accountMail.ts'
import { fullName, userDecider, type UserState } from './userDecider.ts'

export const userStream = (userId: string): string => streamName('user', userId)

export type ActiveUser = Extract<UserState, { status: 'active' }>

export interface RegistrationInput {
  email: string
  password: string
  firstName: string
  lastName: string
  tenantName: string | undefined
  timezone: string | undefined
}

/** The tables of the identity side kept outside the event log. */
export type IdentityTables = CredentialTables & OneTimeTokenTables

export interface IdentityDependencies {
  store: EventStore
  db: Kysely<IdentityTables>
  defaultTimezone: string
  defaultCountry: string
}

/**
 * The principal a token is issued for: the user in one of their tenants (the first by default).
 * `platformAdmin` comes from the user's credentials as they are now (credentialStatusOf), read by
 * every caller that issues tokens, so a revoked operator's next token no longer says so.
 */
export function principalFor(user: ActiveUser, tenantId?: string | null, access: { platformAdmin?: boolean } = {}): Principal {
  const membership = tenantId ? user.memberships.find((m) => m.tenantId === tenantId) : user.memberships[0]
  return {
    userId: user.userId,
    tenantId: membership?.tenantId ?? null,
    role: membership?.role ?? null,
    name: fullName(user),
    email: user.email,
    ...(access.platformAdmin ? { platformAdmin: true } : {}),
  }
}

export async function loadUser(store: EventStore, userId: string): Promise<ActiveUser | null> {
  const { state } = await loadAggregate(store, userStream(userId), userDecider)
  return state.status === 'active' ? state : null
}

/**
 * Registration: the credentials row first (its unique email settles concurrent sign-ups), then
 * the user, their first tenant and the membership in one atomic append. If the append fails the
 * row is removed again, so a retry can succeed. Returns the verification mail for the caller to
 * send (its token works once, for 48 hours).
 */
export async function registerUser(deps: IdentityDependencies, input: RegistrationInput, context: Omit<CommandContext, 'tenantId'>) {
  const email = input.email.trim().toLowerCase()
  const timezone = input.timezone ?? deps.defaultTimezone
  if (!isValidTimeZone(timezone)) throw ValidationFailed.field('timezone', 'Unknown time zone.')

  const userId = newId()
  const tenantId = newId()
  const inserted = await insertCredentials(deps.db, { user_id: userId, email, password_hash: await hashPassword(input.password) })
  if (!inserted) throw ValidationFailed.field('email', 'A user with this email already exists.')

  const firstName = input.firstName.trim()
  const lastName = input.lastName.trim()
  const actor = { userId, name: fullName({ firstName, lastName, email }) }
  const tenantName = input.tenantName?.trim() || `${actor.name}'s workspace`
  const ctx: CommandContext = { ...context, tenantId, actor }

  const userEvents = userDecider.decide({ type: 'registerUser', userId, email, firstName, lastName, now: ctx.now }, userDecider.initialState)
  const registered = fold(userDecider.evolve, userDecider.initialState, userEvents)
  const joinEvents = userDecider.decide({ type: 'joinTenant', tenantId, tenantName, role: 'admin', now: ctx.now }, registered)
  const tenantEvents = tenantDecider.decide(
    { type: 'createTenant', tenantId, name: tenantName, timezone, country: deps.defaultCountry, createdBy: actor, now: ctx.now },
    tenantDecider.initialState,
  )
  try {
    const verification = await issueOneTimeToken(deps.db, { purpose: 'email_verification', userId, email, now: ctx.now, ttlMs: EMAIL_VERIFICATION_TTL_MS })
    const result = await deps.store.append([
      { streamName: tenantStream(tenantId), expectedVersion: 'no_stream', events: toNewEvents(tenantEvents, ctx) },
      { streamName: userStream(userId), expectedVersion: 'no_stream', events: toNewEvents([...userEvents, ...joinEvents], ctx) },
    ])
    const user = fold(userDecider.evolve, registered, joinEvents) as ActiveUser
    const mail: MailMessage = verificationMail(email, firstName || actor.name, verification.token)
    return { user, position: result.lastPosition, mail }
  } catch (error) {
    await deleteCredentials(deps.db, userId)
    throw error
  }
}

const BAD_CREDENTIALS = 'No active account found with the given credentials'

/**
 * The user behind an email and password, the credential version their tokens are issued under and
 * whether they are a platform administrator.
 */
export async function authenticateUser(
  deps: Pick<IdentityDependencies, 'store' | 'db'>,
  emailInput: string,
  password: string,
): Promise<{ user: ActiveUser; credentialVersion: number; platformAdmin: boolean }> {
  const credentials = await findCredentialsByEmail(deps.db, emailInput.trim().toLowerCase())
  if (!credentials || !(await verifyPassword(password, credentials.password_hash))) throw new AuthenticationRequired(BAD_CREDENTIALS)
  const user = await loadUser(deps.store, credentials.user_id)
  if (!user) throw new AuthenticationRequired(BAD_CREDENTIALS)
  return { user, credentialVersion: credentials.credential_version, platformAdmin: credentials.is_platform_admin === true }
}
