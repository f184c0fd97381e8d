import type { MailMessage, Mailer } from '../../infra/mail/mailer.ts'

/** A Mailer that keeps what it is given, for tests to read tokens from (delivery is outside the service). */
export class Mailbox implements Mailer {
  readonly sent: MailMessage[] = []

  async send(message: MailMessage): Promise<void> {
    this.sent.push(message)
  }

  /** mails to one address with a subject matching the pattern, oldest first */
  to(address: string, subject: RegExp = /./): MailMessage[] {
    return this.sent.filter((mail) => mail.to === address && subject.test(mail.subject))
  }

  /** the token of the latest such mail */
  tokenFor(address: string, subject: RegExp): string {
    const mail = this.to(address, subject).at(-1)
    if (!mail) throw new Error(`no mail to ${address} with a subject like ${subject}`)
    const match = /^Token: (\S+)$/m.exec(mail.text)
    if (!match) throw new Error(`no token in the mail: ${mail.text}`)
    return match[1]!
  }
}

export const RESET_SUBJECT = /reset/i
export const VERIFY_SUBJECT = /verify/i
