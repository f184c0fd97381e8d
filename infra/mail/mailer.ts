/** The little of a pino logger this module uses (request.log and pino children both fit). */
export interface MailLog {
  info(object: object, message: string): void
  error(object: object, message: string): void
}

/** One plain-text mail. */
export interface MailMessage {
  to: string
  subject: string
  text: string
}

/**
 * The mail port: password resets and email verification go out through it. Delivery is outside
 * the service (an SMTP relay or a mail API adapter plugs in here); the composition root picks the
 * implementation and falls back to {@link LogMailer} when none is configured.
 */
export interface Mailer {
  send(message: MailMessage): Promise<void>
}

/**
 * Writes each mail to the log instead of delivering it: the default when no mail transport is
 * configured, so a developer can complete a password reset or a verification from the log. The
 * mail's text carries one-time tokens, so this is for development and tests, not production.
 */
export class LogMailer implements Mailer {
  readonly #logger: Pick<MailLog, 'info'>

  constructor(logger: Pick<MailLog, 'info'>) {
    this.#logger = logger
  }

  async send(message: MailMessage): Promise<void> {
    this.#logger.info({ mail: { to: message.to, subject: message.subject, text: message.text } }, 'mail not delivered (no mail transport configured); written to the log')
  }
}

/**
 * Hands a mail to the mailer without waiting for it: the request's answer (and its timing) does
 * not depend on the mail transport, and a failed delivery is logged, never turned into a 500.
 */
export function sendInBackground(mailer: Mailer, message: MailMessage, logger: Pick<MailLog, 'error'>): void {
  let pending: Promise<void>
  try {
    pending = mailer.send(message)
  } catch (error) {
    logger.error({ err: error, mail: { to: message.to, subject: message.subject } }, 'mail delivery failed')
    return
  }
  pending.catch((error: unknown) => logger.error({ err: error, mail: { to: message.to, subject: message.subject } }, 'mail delivery failed'))
}
