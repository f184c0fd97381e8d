import t from 'tap'
import { sql } from 'kysely'
import { ManualClock } from '../../infra/clock.ts'
import { committedEventCount } from '../support/eventLog.ts'
import { as, registerUser, startTestApp, type Session } from '../support/testApp.ts'
import { Mailbox, RESET_SUBJECT } from './mailbox.ts'

const PASSWORD = 'correct horse battery'
const RESET_ANSWER = { success: true, message: 'If an account exists for this email, we have sent it a link to reset the password.' }

function bearer(access: string) {
  return { authorization: `Bearer ${access}` }
}

t.test('password change', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const mailbox = new Mailbox()
  const { app, services } = await startTestApp(t, { label: 'auth_pw_change', clock, mailer: mailbox })
  const db = services.database.db
  const eventCount = () => committedEventCount(db)
  const email = 'neema@example.com'
  const session = await registerUser(app, { email, password: PASSWORD, first_name: 'Neema', last_name: 'Mushi' })
  // a second session of the same user, opened before the change
  const otherDevice = (await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email, password: PASSWORD } })).json().data

  const profileWith = (access: string) => app.inject({ method: 'GET', url: '/api/auth/profile/', headers: bearer(access) })
  const refreshWith = (refresh: string) => app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh } })

  t.test('refusals append nothing and change nothing', async (t) => {
    const before = await eventCount()
    const wrongOld = await app.inject(as(session, { method: 'POST', url: '/api/auth/password/change/', payload: { old_password: 'not my password', new_password: 'a new password' } }))
    t.equal(wrongOld.statusCode, 400)
    t.same(wrongOld.json(), { success: false, message: 'Validation failed', errors: { old_password: ['The old password is not correct.'] } })

    const short = await app.inject(as(session, { method: 'POST', url: '/api/auth/password/change/', payload: { old_password: PASSWORD, new_password: 'short' } }))
    t.equal(short.statusCode, 400)
    t.same(short.json(), { success: false, message: 'Validation failed', errors: { new_password: ['Ensure this field has at least 8 characters.'] } })

    const missing = await app.inject(as(session, { method: 'POST', url: '/api/auth/password/change/', payload: {} }))
    t.equal(missing.statusCode, 400)
    t.same(missing.json().errors, { old_password: ['This field is required.'], new_password: ['This field is required.'] })

    const same = await app.inject(as(session, { method: 'POST', url: '/api/auth/password/change/', payload: { old_password: PASSWORD, new_password: PASSWORD } }))
    t.equal(same.statusCode, 400)
    t.same(same.json().errors, { new_password: ['The new password must differ from the old one.'] })

    const anonymous = await app.inject({ method: 'POST', url: '/api/auth/password/change/', payload: { old_password: PASSWORD, new_password: 'a new password' } })
    t.equal(anonymous.statusCode, 401)
    t.same(anonymous.json(), { detail: 'Authentication credentials were not provided.' })

    t.equal(await eventCount(), before, 'nothing appended')
    t.equal((await profileWith(session.access)).statusCode, 200, 'the old session still works')
  })

  t.test('a change revokes every token issued before it', async (t) => {
    clock.set('2026-03-10T09:30:00Z')
    const changed = await app.inject(as(session, { method: 'POST', url: '/api/auth/password/change/', payload: { old_password: PASSWORD, new_password: 'battery staple horse' } }))
    t.equal(changed.statusCode, 200, changed.body)
    const body = changed.json()
    t.match(body, { success: true, message: 'Password changed successfully', data: { access: String, refresh: String }, position: Number })
    t.same(Object.keys(body.data).sort(), ['access', 'refresh'])

    const { events } = await services.store.readStream(`user-${session.userId}`)
    t.same(events.at(-1)!.type, 'userPasswordChanged')
    t.same(events.at(-1)!.data, { userId: session.userId, method: 'change', at: '2026-03-10T09:30:00.000Z' })
    t.notMatch(JSON.stringify(events), /battery staple|scrypt\$/, 'no secret in the log')

    // refresh tokens issued before: refused at once
    for (const refresh of [session.refresh, otherDevice.refresh]) {
      const old = await refreshWith(refresh)
      t.equal(old.statusCode, 401)
      t.same(old.json(), { detail: 'Token is invalid or expired' })
    }
    // access tokens issued before: refused too
    for (const access of [session.access, otherDevice.access]) {
      const old = await profileWith(access)
      t.equal(old.statusCode, 401)
      t.same(old.json(), { detail: 'Authentication credentials were not provided.' })
    }
    // the new pair works
    t.equal((await profileWith(body.data.access)).statusCode, 200)
    const renewed = await refreshWith(body.data.refresh)
    t.equal(renewed.statusCode, 200, renewed.body)
    t.equal((await profileWith(renewed.json().data.access)).statusCode, 200)

    // the old password no longer signs in, the new one does
    const oldLogin = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email, password: PASSWORD } })
    t.equal(oldLogin.statusCode, 401)
    const newLogin = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email, password: 'battery staple horse' } })
    t.equal(newLogin.statusCode, 200)
    t.equal((await profileWith(newLogin.json().data.access)).statusCode, 200)

    // a second change in the same instant still revokes the first change's tokens
    const second = await app.inject({
      method: 'POST',
      url: '/api/auth/password/change/',
      headers: bearer(body.data.access),
      payload: { old_password: 'battery staple horse', new_password: 'horse battery staple' },
    })
    t.equal(second.statusCode, 200, second.body)
    t.equal((await profileWith(body.data.access)).statusCode, 401)
    t.equal((await refreshWith(body.data.refresh)).statusCode, 401)
    t.equal((await profileWith(second.json().data.access)).statusCode, 200)
  })
})

t.test('password reset', async (t) => {
  const clock = new ManualClock('2026-03-10T09:00:00Z')
  const mailbox = new Mailbox()
  const { app, services } = await startTestApp(t, { label: 'auth_pw_reset', clock, mailer: mailbox })
  const db = services.database.db
  const eventCount = () => committedEventCount(db)
  const email = 'baraka@example.com'
  const session: Session = await registerUser(app, { email, password: PASSWORD, first_name: 'Baraka' })

  const requestReset = (address: string) => app.inject({ method: 'POST', url: '/api/auth/password/reset/', payload: { email: address } })
  const confirm = (token: string, password: string) =>
    app.inject({ method: 'POST', url: '/api/auth/password/reset/confirm/', payload: { token, new_password: password } })

  t.test('the same answer whether or not the email has an account', async (t) => {
    const before = mailbox.sent.length
    const known = await requestReset('Baraka@Example.com')
    const unknown = await requestReset('nobody@example.com')
    t.equal(known.statusCode, 200)
    t.equal(unknown.statusCode, 200)
    t.same(known.json(), RESET_ANSWER)
    t.same(unknown.json(), RESET_ANSWER)
    t.equal(known.body, unknown.body, 'byte for byte')
    t.equal(mailbox.sent.length, before + 1, 'one mail, to the account only')
    t.equal(mailbox.to('nobody@example.com').length, 0)
    const mail = mailbox.to(email, RESET_SUBJECT).at(-1)!
    t.match(mail, { to: email, subject: 'Reset your Mifumo password' })

    const stored = await sql<{ token_hash: string; expires_at: Date }>`select token_hash, expires_at from one_time_tokens where purpose = 'password_reset'`.execute(db)
    const token = mailbox.tokenFor(email, RESET_SUBJECT)
    t.ok(Buffer.from(token, 'base64url').length >= 32, 'at least 32 random bytes')
    t.equal(stored.rows.length, 1)
    t.not(stored.rows[0]!.token_hash, token, 'only a hash is stored')
    t.match(stored.rows[0]!.token_hash, /^[0-9a-f]{64}$/)
    t.equal(new Date(stored.rows[0]!.expires_at).toISOString(), '2026-03-10T10:00:00.000Z', 'one hour')
  })

  t.test('bad input', async (t) => {
    const malformed = await app.inject({ method: 'POST', url: '/api/auth/password/reset/', payload: { email: 'not an email' } })
    t.equal(malformed.statusCode, 400)
    t.same(malformed.json(), { success: false, message: 'Validation failed', errors: { email: ['Enter a valid email address.'] } })
    const token = mailbox.tokenFor(email, RESET_SUBJECT)
    const short = await confirm(token, 'short')
    t.equal(short.statusCode, 400)
    t.same(short.json().errors, { new_password: ['Ensure this field has at least 8 characters.'] })
  })

  t.test('an unknown token is refused', async (t) => {
    const before = await eventCount()
    const unknown = await confirm('A'.repeat(43), 'a brand new password')
    t.equal(unknown.statusCode, 400)
    t.same(unknown.json(), { success: false, message: 'Validation failed', errors: { token: ['This password reset token is not valid.'] } })
    t.equal(await eventCount(), before)
  })

  t.test('the mailed token works once and revokes older tokens', async (t) => {
    clock.set('2026-03-10T09:20:00Z')
    const token = mailbox.tokenFor(email, RESET_SUBJECT)
    const done = await confirm(token, 'a brand new password')
    t.equal(done.statusCode, 200, done.body)
    t.match(done.json(), { success: true, message: String, position: Number })
    const { events } = await services.store.readStream(`user-${session.userId}`)
    t.same(events.at(-1)!.data, { userId: session.userId, method: 'reset', at: '2026-03-10T09:20:00.000Z' })

    const before = await eventCount()
    const again = await confirm(token, 'another new password')
    t.equal(again.statusCode, 400)
    t.same(again.json(), { success: false, message: 'Validation failed', errors: { token: ['This password reset token has already been used.'] } })
    t.equal(await eventCount(), before)

    t.equal((await app.inject({ method: 'GET', url: '/api/auth/profile/', headers: session.headers })).statusCode, 401, 'the access token from before is refused')
    t.equal((await app.inject({ method: 'POST', url: '/api/auth/token/refresh/', payload: { refresh: session.refresh } })).statusCode, 401, 'so is the refresh token')
    const login = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email, password: 'a brand new password' } })
    t.equal(login.statusCode, 200)
  })

  t.test('an expired token is refused', async (t) => {
    clock.set('2026-03-10T12:00:00Z')
    await requestReset(email)
    const token = mailbox.tokenFor(email, RESET_SUBJECT)
    clock.set('2026-03-10T13:00:01Z')
    const before = await eventCount()
    const late = await confirm(token, 'too late a password')
    t.equal(late.statusCode, 400)
    t.same(late.json(), { success: false, message: 'Validation failed', errors: { token: ['This password reset token has expired; please ask for a new one.'] } })
    t.equal(await eventCount(), before)
    const stillOld = await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email, password: 'a brand new password' } })
    t.equal(stillOld.statusCode, 200, 'the password is unchanged')
  })

  t.test('a password change retires pending reset tokens', async (t) => {
    clock.set('2026-03-11T09:00:00Z')
    await requestReset(email)
    const token = mailbox.tokenFor(email, RESET_SUBJECT)
    const login = (await app.inject({ method: 'POST', url: '/api/auth/login/', payload: { email, password: 'a brand new password' } })).json().data
    const changed = await app.inject({
      method: 'POST',
      url: '/api/auth/password/change/',
      headers: bearer(login.access),
      payload: { old_password: 'a brand new password', new_password: 'changed while a reset was pending' },
    })
    t.equal(changed.statusCode, 200, changed.body)
    const stale = await confirm(token, 'should not be accepted')
    t.equal(stale.statusCode, 400)
  })
})
