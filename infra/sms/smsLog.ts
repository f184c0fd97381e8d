/** The little of a pino logger the SMS adapters use (a pino logger or child fits). */
export interface SmsLog {
  warn(object: object, message: string): void
  error(object: object, message: string): void
}

/** Drops everything: the default when no logger is given. */
export const silentSmsLog: SmsLog = {
  warn: () => {},
  error: () => {},
}

/** A short text for an unknown thrown value, for logs and error messages (never a stack). */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as Error & { cause?: unknown }).cause
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined
    return code ? `${error.message} (${code})` : error.message
  }
  return String(error)
}
