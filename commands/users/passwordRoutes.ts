import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { isPlatformAdmin } from '../../infra/auth/credentialStore.ts'
import type { Clock } from '../../infra/clock.ts'
import { PermissionDenied } from '../../infra/errors.ts'
import { sendInBackground, type Mailer } from '../../infra/mail/mailer.ts'
import { replyWithPosition } from '../httpCommand.ts'
import { principalFor } from './registration.ts'
import { callerOf, callerUser, requestBase, userContext } from './requestContext.ts'
import { changePassword, confirmPasswordReset, requestPasswordReset, type AccountDeps } from './userCommands.ts'

export interface PasswordRoutesOptions {
  clock: Clock
  mailer: Mailer
  accountDeps: AccountDeps
}

const NewPassword = Type.String({ minLength: 8, maxLength: 128 })

const ChangeBody = Type.Object({
  old_password: Type.String({ minLength: 1, maxLength: 128 }),
  new_password: NewPassword,
})

const ResetBody = Type.Object({ email: Type.String({ format: 'email', maxLength: 254 }) })

const ResetConfirmBody = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 200 }),
  new_password: NewPassword,
})

/** The one answer to every reset request, whether or not the email belongs to an account. */
export const RESET_REQUESTED = 'If an account exists for this email, we have sent it a link to reset the password.'

export const passwordRoutes: FastifyPluginAsyncTypebox<PasswordRoutesOptions> = async (app, { clock, mailer, accountDeps }) => {
  /**
   * Every token issued before stops working (refresh tokens at once, access tokens within seconds,
   * see CredentialVersionCache); the answer carries a new pair for the caller's session.
   */
  app.post('/api/auth/password/change/', { schema: { body: ChangeBody }, preHandler: app.authenticate, config: { rateLimit: 'auth' } }, async (request, reply) => {
    const caller = callerOf(request)
    if (caller.authenticatedWith === 'api_key') throw new PermissionDenied('An API key cannot change the password; sign in with the password.')
    const user = await callerUser(accountDeps, request)
    const context = userContext(requestBase(request, clock), user, caller.tenantId)
    const outcome = await changePassword(accountDeps, context, user.userId, request.body.old_password, request.body.new_password)
    const platformAdmin = await isPlatformAdmin(accountDeps.db, user.userId)
    const tokens = app.issueTokens(principalFor(outcome.user, caller.tenantId, { platformAdmin }), { credentialVersion: outcome.credentialVersion })
    return replyWithPosition(reply, 200, outcome.position, { success: true, message: 'Password changed successfully', data: tokens })
  })

  /**
   * Always the same 200, so the answer does not tell which emails have accounts; the mail is sent
   * in the background, so neither does the time the answer takes (beyond one lookup and insert).
   */
  app.post('/api/auth/password/reset/', { schema: { body: ResetBody }, config: { rateLimit: 'auth' } }, async (request) => {
    const mail = await requestPasswordReset(accountDeps, request.body.email, clock.now())
    if (mail) sendInBackground(mailer, mail, request.log)
    return { success: true, message: RESET_REQUESTED }
  })

  app.post('/api/auth/password/reset/confirm/', { schema: { body: ResetConfirmBody }, config: { rateLimit: 'auth' } }, async (request, reply) => {
    const outcome = await confirmPasswordReset(accountDeps, requestBase(request, clock), request.body.token, request.body.new_password)
    return replyWithPosition(reply, 200, outcome.position, {
      success: true,
      message: 'Your password has been reset; sign in with the new password.',
    })
  })
}
