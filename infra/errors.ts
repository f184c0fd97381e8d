/**
 * The refusals the service can answer with. Commands and queries throw these; the HTTP error
 * handler turns each into the body the spec documents. Nothing here knows about HTTP frameworks.
 */

/** Input that fails validation: 400 with field errors, `{success:false, message, errors}`. */
export class ValidationFailed extends Error {
  readonly errors: Record<string, string[]>

  constructor(errors: Record<string, string[]>, message = 'Validation failed') {
    super(message)
    this.name = 'ValidationFailed'
    this.errors = errors
  }

  static field(field: string, problem: string): ValidationFailed {
    return new ValidationFailed({ [field]: [problem] })
  }
}

/** A business rule refuses the command: `{success:false, message, error_code, details}`. */
export class BusinessRuleViolation extends Error {
  readonly errorCode: string
  readonly details: Record<string, unknown>
  readonly statusCode: number

  constructor(message: string, errorCode: string, details: Record<string, unknown> = {}, statusCode = 400) {
    super(message)
    this.name = 'BusinessRuleViolation'
    this.errorCode = errorCode
    this.details = details
    this.statusCode = statusCode
  }
}

/** The state machine of an aggregate refuses a transition (error_code INVALID_STATUS). */
export function invalidStatus(message: string, currentStatus: string, allowedStatuses: readonly string[]): BusinessRuleViolation {
  return new BusinessRuleViolation(message, 'INVALID_STATUS', {
    current_status: currentStatus,
    allowed_statuses: [...allowedStatuses],
  })
}

/** The resource does not exist in the caller's tenant (another tenant's ids answer this too). */
export class NotFound extends Error {
  constructor(message = 'Not found') {
    super(message)
    this.name = 'NotFound'
  }
}

/** Concurrent writers kept winning after every retry: 409, safe to retry. */
export class ConcurrencyConflict extends Error {
  constructor(message = 'The resource was modified concurrently; please retry') {
    super(message)
    this.name = 'ConcurrencyConflict'
  }
}

/** No or bad credentials: 401 `{detail}` exactly as the spec writes it. */
export class AuthenticationRequired extends Error {
  constructor(message = 'Authentication credentials were not provided.') {
    super(message)
    this.name = 'AuthenticationRequired'
  }
}

/** Authenticated, but not allowed to do this: 403. */
export class PermissionDenied extends Error {
  constructor(message = 'You do not have permission to perform this action.') {
    super(message)
    this.name = 'PermissionDenied'
  }
}

/** A request the spec answers with a plain 400 `{success:false, message}` (no field errors). */
export class BadRequest extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BadRequest'
  }
}

/** A dependency is behind or unreachable for now: 503 with Retry-After; the request changed nothing. */
export class TemporarilyUnavailable extends Error {
  readonly retryAfterSeconds: number

  constructor(message: string, retryAfterSeconds = 1) {
    super(message)
    this.name = 'TemporarilyUnavailable'
    this.retryAfterSeconds = retryAfterSeconds
  }
}
