import type { MailMessage } from '../../infra/mail/mailer.ts'

/** How long a mailed token works. */
export const PASSWORD_RESET_TTL_MS = 60 * 60 * 1000
export const EMAIL_VERIFICATION_TTL_MS = 48 * 60 * 60 * 1000

/** The texts of the account mails. Each carries its token on a line of its own: `Token: …`. */
export function verificationMail(to: string, firstName: string, token: string): MailMessage {
  return {
    to,
    subject: 'Verify your email address',
    text: [
      `Hello ${firstName},`,
      '',
      'Please confirm that this is your email address: enter the token below in the Mifumo app',
      '(it is sent to POST /api/auth/verify-email/ as {"token": "…"}). It works once, for 48 hours.',
      '',
      `Token: ${token}`,
      '',
      'If you did not create a Mifumo account, you can ignore this mail.',
    ].join('\n'),
  }
}

export function passwordResetMail(to: string, firstName: string, token: string): MailMessage {
  return {
    to,
    subject: 'Reset your Mifumo password',
    text: [
      `Hello ${firstName},`,
      '',
      'Someone (hopefully you) asked to reset the password of your Mifumo account. To choose a new',
      'password, enter the token below in the Mifumo app (it is sent to POST',
      '/api/auth/password/reset/confirm/ as {"token": "…", "new_password": "…"}). It works once, for one hour.',
      '',
      `Token: ${token}`,
      '',
      'If you did not ask for this, ignore this mail: your password stays as it is.',
    ].join('\n'),
  }
}
