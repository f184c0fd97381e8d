import type { Kysely } from 'kysely'
import type { ApiKeyStore } from '../../infra/auth/apiKeys.ts'
import { findCredentialsByEmail, findCredentialsByUserId, replacePassword, type CredentialVersionCache } from '../../infra/auth/credentialStore.ts'
import { issueOneTimeToken, releaseOneTimeToken, retireOneTimeTokens, useOneTimeToken, type TokenPurpose } from '../../infra/auth/oneTimeTokens.ts'
import { hashPassword, verifyPassword } from '../../infra/auth/passwords.ts'
import { BusinessRuleViolation, ConcurrencyConflict, NotFound, ValidationFailed } from '../../infra/errors.ts'
import type { EventStore } from '../../infra/eventStore/eventStore.ts'
import type { MailMessage } from '../../infra/mail/mailer.ts'
import type { CommandContext } from '../commandContext.ts'
import { executeCommand } from '../commandExecution.ts'
import { userContext, type RequestBase } from './requestContext.ts'
import { EMAIL_VERIFICATION_TTL_MS, PASSWORD_RESET_TTL_MS, passwordResetMail, verificationMail } from './accountMail.ts'
import { loadUser, userStream, type ActiveUser, type IdentityTables } from './registration.ts'
import { fullName, userDecider, type UserCommand, type UserState } from './userDecider.ts'

/** What the account commands need: the log, the identity tables and the caches that must hear of changes. */
export interface AccountDeps {
  store: EventStore
  db: Kysely<IdentityTables>
  credentialVersions: CredentialVersionCache
  apiKeys: ApiKeyStore
}

export interface UserOutcome {
  user: ActiveUser
  /** global position of the user's last event after the command */
  position: number
}

function activeUser(state: UserState): ActiveUser {
  if (state.status !== 'active') throw new NotFound('User not found')
  return state
}

const mustExist = (state: UserState): void => {
  activeUser(state)
}

async function onUser(store: EventStore, userId: string, command: (state: UserState) => UserCommand, context: CommandContext): Promise<UserOutcome> {
  const outcome = await executeCommand(store, userDecider, userStream(userId), command, context, mustExist)
  return { user: activeUser(outcome.state), position: outcome.position }
}

// --- profile -------------------------------------------------------------------------------

export interface ProfileChanges {
  firstName?: string
  lastName?: string
}

/** Changes the user's names; the owner's name on their API keys follows. */
export async function updateProfile(deps: AccountDeps, context: CommandContext, userId: string, changes: ProfileChanges): Promise<UserOutcome> {
  const { store } = deps
  const outcome = await executeCommand(
    store,
    userDecider,
    userStream(userId),
    (): UserCommand => ({ type: 'updateProfile', firstName: changes.firstName, lastName: changes.lastName, now: context.now }),
    context,
    mustExist,
  )
  const user = activeUser(outcome.state)
  if (outcome.events.length > 0) await deps.apiKeys.renameOwner(user.userId, fullName(user), user.email)
  return { user, position: outcome.position }
}

// --- passwords -----------------------------------------------------------------------------

/** The new password hash is in place: revoke older tokens, retire pending reset tokens, record the fact. */
async function afterPasswordReplaced(
  deps: AccountDeps,
  context: CommandContext,
  userId: string,
  version: number,
  method: 'change' | 'reset',
): Promise<UserOutcome & { credentialVersion: number }> {
  deps.credentialVersions.remember(userId, version)
  await retireOneTimeTokens(deps.db, userId, 'password_reset', context.now)
  const outcome = await onUser(deps.store, userId, (): UserCommand => ({ type: 'recordPasswordChange', method, now: context.now }), context)
  return { ...outcome, credentialVersion: version }
}

/**
 * Changes the password of a signed-in user who knows the old one. Every token issued before
 * (other sessions included) stops working; the caller gets a new pair under the new version.
 * The hash is replaced only if it is still the one the old password was checked against, so of
 * two concurrent changes one wins and the other is a conflict.
 */
export async function changePassword(
  deps: AccountDeps,
  context: CommandContext,
  userId: string,
  oldPassword: string,
  newPassword: string,
): Promise<UserOutcome & { credentialVersion: number }> {
  const credentials = await findCredentialsByUserId(deps.db, userId)
  if (!credentials) throw new NotFound('User not found')
  if (!(await verifyPassword(oldPassword, credentials.password_hash))) throw ValidationFailed.field('old_password', 'The old password is not correct.')
  if (oldPassword === newPassword) throw ValidationFailed.field('new_password', 'The new password must differ from the old one.')
  const version = await replacePassword(deps.db, userId, await hashPassword(newPassword), context.now, credentials.password_hash)
  if (version === null) throw new ConcurrencyConflict('The password was changed concurrently; please sign in again')
  return afterPasswordReplaced(deps, context, userId, version, 'change')
}

/**
 * A reset request: for an existing user, a one-time token (1 hour) and the mail that carries it;
 * null otherwise. The caller answers the same either way, so no one learns which emails exist.
 */
export async function requestPasswordReset(deps: Pick<AccountDeps, 'store' | 'db'>, email: string, now: Date): Promise<MailMessage | null> {
  const credentials = await findCredentialsByEmail(deps.db, email.trim().toLowerCase())
  if (!credentials) return null
  const user = await loadUser(deps.store, credentials.user_id)
  if (!user) return null
  const { token } = await issueOneTimeToken(deps.db, { purpose: 'password_reset', userId: user.userId, email: user.email, now, ttlMs: PASSWORD_RESET_TTL_MS })
  return passwordResetMail(user.email, user.firstName || fullName(user), token)
}

const TOKEN_PROBLEMS: Record<TokenPurpose, Record<'unknown' | 'used' | 'expired', string>> = {
  password_reset: {
    unknown: 'This password reset token is not valid.',
    used: 'This password reset token has already been used.',
    expired: 'This password reset token has expired; please ask for a new one.',
  },
  email_verification: {
    unknown: 'This verification token is not valid.',
    used: 'This verification token has already been used.',
    expired: 'This verification token has expired; please ask for a new one.',
  },
}

/** Uses a mailed token, or refuses with a 400 on `token` saying why it does not work. */
async function useToken(deps: Pick<AccountDeps, 'db'>, purpose: TokenPurpose, token: string, now: Date) {
  const use = await useOneTimeToken(deps.db, purpose, token, now)
  if (!use.ok) throw ValidationFailed.field('token', TOKEN_PROBLEMS[purpose][use.reason])
  return use.token
}

/** Sets a new password with a mailed reset token (used once); older tokens stop working. */
export async function confirmPasswordReset(deps: AccountDeps, base: RequestBase, token: string, newPassword: string): Promise<UserOutcome> {
  // hashed first: a failure here leaves the token unused
  const passwordHash = await hashPassword(newPassword)
  const used = await useToken(deps, 'password_reset', token, base.now)
  const user = await loadUser(deps.store, used.user_id)
  if (!user) throw ValidationFailed.field('token', TOKEN_PROBLEMS.password_reset.unknown)
  const version = await replacePassword(deps.db, user.userId, passwordHash, base.now)
  if (version === null) throw ValidationFailed.field('token', TOKEN_PROBLEMS.password_reset.unknown)
  const { credentialVersion: _, ...outcome } = await afterPasswordReplaced(deps, userContext(base, user), user.userId, version, 'reset')
  return outcome
}

// --- email verification --------------------------------------------------------------------

/** Verifies the user's email with a mailed token; verifying an already verified address changes nothing. */
export async function verifyEmail(deps: Pick<AccountDeps, 'store' | 'db'>, base: RequestBase, token: string): Promise<UserOutcome> {
  const now = base.now
  const used = await useToken(deps, 'email_verification', token, now)
  try {
    const user = await loadUser(deps.store, used.user_id)
    if (!user) throw ValidationFailed.field('token', TOKEN_PROBLEMS.email_verification.unknown)
    return await onUser(deps.store, user.userId, (): UserCommand => ({ type: 'verifyEmail', email: used.email, now }), userContext(base, user))
  } catch (error) {
    // the token is given back when the verification itself failed, so the user can try again
    if (!(error instanceof ValidationFailed)) await releaseOneTimeToken(deps.db, token).catch(() => undefined)
    throw error
  }
}

/** A new verification mail for a signed-in user whose address is not verified yet. */
export async function resendVerification(deps: Pick<AccountDeps, 'db'>, user: ActiveUser, now: Date): Promise<MailMessage> {
  if (user.emailVerified) throw new BusinessRuleViolation('The email address is already verified', 'ALREADY_VERIFIED', { email: user.email })
  const { token } = await issueOneTimeToken(deps.db, { purpose: 'email_verification', userId: user.userId, email: user.email, now, ttlMs: EMAIL_VERIFICATION_TTL_MS })
  return verificationMail(user.email, user.firstName || fullName(user), token)
}
