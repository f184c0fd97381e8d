import t from 'tap'
import { sql } from 'kysely'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, registerUser, startTestApp } from '../support/testApp.ts'
import { Mailbox, VERIFY_SUBJECT } from './mailbox.ts'

t.test('email verification', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const mailbox = new Mailbox()
  const { app, services } = await startTestApp(t, { label: 'auth_verify', clock, mailer: mailbox })
  const eventCount = () => committedEventCount(services.database.db)
  const verify = (token: unknown) => app.inject({ method: 'POST', url: '/api/auth/verify-email/', payload: { token } })

  const email = 'zawadi@example.com'
  const session = await registerUser(app, { email, first_name: 'Zawadi' })
  const profile = async () => (await app.inject(as(session, { method: 'GET', url: '/api/auth/profile/' }))).json().data

  t.test('registration sends a verification token by mail', async (t) => {
    const mails = mailbox.to(email, VERIFY_SUBJECT)
    t.equal(mails.length, 1)
    t.match(mails[0]!, { to: email, subject: 'Verify your email address', text: /Hello Zawadi,/ })
    const stored = await sql<{ expires_at: Date }>`select expires_at from one_time_tokens where purpose = 'email_verification'`.execute(services.database.db)
    t.equal(new Date(stored.rows[0]!.expires_at).toISOString(), '2026-03-12T09:00:00.000Z', '48 hours')
    t.equal((await profile()).is_email_verified, false)
  })

  t.test('bad tokens are refused and append nothing', async (t) => {
    const before = await eventCount()
    const unknown = await verify('not-a-token-we-sent')
    t.equal(unknown.statusCode, 400)
    t.same(unknown.json(), { success: false, message: 'Validation failed', errors: { token: ['This verification token is not valid.'] } })
    const missing = await app.inject({ method: 'POST', url: '/api/auth/verify-email/', payload: {} })
    t.equal(missing.statusCode, 400)
    t.same(missing.json(), { success: false, message: 'Validation failed', errors: { token: ['This field is required.'] } })
    const wrongType = await verify(12345)
    t.equal(wrongType.statusCode, 400)
    t.same(wrongType.json().errors, { token: ['Must be string.'] })
    // a reset token is no verification token
    await app.inject({ method: 'POST', url: '/api/auth/password/reset/', payload: { email } })
    const resetToken = mailbox.tokenFor(email, /reset/i)
    t.equal((await verify(resetToken)).statusCode, 400)
    t.equal(await eventCount(), before)
  })

  t.test('the token verifies the email once', async (t) => {
    clock.set('2026-03-11T09:00:00Z')
    const token = mailbox.tokenFor(email, VERIFY_SUBJECT)
    const verified = await verify(token)
    t.equal(verified.statusCode, 200, verified.body)
    const body = verified.json()
    t.same(body, {
      success: true,
      message: 'Email verified successfully',
      data: { id: session.userId, email, is_email_verified: true },
      position: body.position,
    })
    t.type(body.position, 'number')
    const { events } = await services.store.readStream(`user-${session.userId}`)
    t.same(events.at(-1)!.type, 'userEmailVerified')
    t.same(events.at(-1)!.data, { userId: session.userId, email, at: '2026-03-11T09:00:00.000Z' })
    t.match(await profile(), { is_email_verified: true, updated_at: '2026-03-11T09:00:00.000Z' })

    const before = await eventCount()
    const again = await verify(token)
    t.equal(again.statusCode, 400)
    t.same(again.json(), { success: false, message: 'Validation failed', errors: { token: ['This verification token has already been used.'] } })
    t.equal(await eventCount(), before)
  })

  t.test('resend: refused once verified', async (t) => {
    const resend = await app.inject(as(session, { method: 'POST', url: '/api/auth/verify-email/resend/' }))
    t.equal(resend.statusCode, 400)
    t.match(resend.json(), { success: false, error_code: 'ALREADY_VERIFIED' })
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/verify-email/resend/' })).statusCode, 401)
  })

  t.test('an expired token is refused; a resent one works', async (t) => {
    clock.set('2026-03-10T09:00:00Z')
    const other = await registerUser(app, { email: 'juma@example.com', first_name: 'Juma' })
    const token = mailbox.tokenFor('juma@example.com', VERIFY_SUBJECT)
    clock.set('2026-03-12T09:00:01Z')
    const late = await verify(token)
    t.equal(late.statusCode, 400)
    t.same(late.json().errors, { token: ['This verification token has expired; please ask for a new one.'] })

    const resend = await app.inject(as(other, { method: 'POST', url: '/api/auth/verify-email/resend/' }))
    t.equal(resend.statusCode, 200, resend.body)
    t.same(resend.json(), { success: true, message: 'A new verification email has been sent.' })
    const fresh = mailbox.tokenFor('juma@example.com', VERIFY_SUBJECT)
    t.not(fresh, token)
    const verified = await verify(fresh)
    t.equal(verified.statusCode, 200, verified.body)
    t.equal(verified.json().data.is_email_verified, true)
  })
})
