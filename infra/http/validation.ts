import { Ajv, type ErrorObject, type Options } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifySchemaCompiler } from 'fastify'

/**
 * Request validation with two Ajv instances: bodies are checked strictly (a string where a number
 * belongs is an error, never coerced), while query strings and path parameters arrive as text and
 * are coerced to the declared types (`?limit=20`, repeated `?tag=a&tag=b` as an array).
 */
const shared: Options = { allErrors: true, useDefaults: true, removeAdditional: false, strict: false }

function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ ...shared, ...options })
  ;(addFormats as unknown as (ajv: Ajv) => Ajv)(ajv)
  return ajv
}

const bodyAjv = makeAjv({ coerceTypes: false })
const textAjv = makeAjv({ coerceTypes: 'array' })

export const validatorCompiler: FastifySchemaCompiler<object> = ({ schema, httpPart }) => {
  const ajv = httpPart === 'body' ? bodyAjv : textAjv
  return ajv.compile(schema) as ReturnType<FastifySchemaCompiler<object>>
}

function fieldOf(error: ErrorObject): string {
  const path = error.instancePath.split('/').filter(Boolean).join('.')
  const missing = (error.params as { missingProperty?: string }).missingProperty
  const extra = (error.params as { additionalProperty?: string }).additionalProperty
  const leaf = missing ?? extra
  if (leaf) return path ? `${path}.${leaf}` : leaf
  return path || 'non_field_errors'
}

function messageOf(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>
  switch (error.keyword) {
    case 'required':
      return 'This field is required.'
    case 'type':
      return `Must be ${String(params.type).replace(/,/g, ' or ')}.`
    case 'minimum':
      return `Ensure this value is greater than or equal to ${String(params.limit)}.`
    case 'maximum':
      return `Ensure this value is less than or equal to ${String(params.limit)}.`
    case 'minLength':
      return Number(params.limit) === 1 ? 'This field may not be blank.' : `Ensure this field has at least ${String(params.limit)} characters.`
    case 'maxLength':
      return `Ensure this field has no more than ${String(params.limit)} characters.`
    case 'minItems':
      return `Ensure this list has at least ${String(params.limit)} items.`
    case 'maxItems':
      return `Ensure this list has no more than ${String(params.limit)} items.`
    case 'enum':
      return `Must be one of: ${(params.allowedValues as unknown[]).join(', ')}.`
    case 'const':
      return `Must be ${JSON.stringify(params.allowedValue)}.`
    case 'format':
      return params.format === 'email' ? 'Enter a valid email address.' : `Must be a valid ${String(params.format)}.`
    case 'additionalProperties':
      return 'Unknown field.'
    case 'pattern':
      return 'Has an invalid format.'
    case 'anyOf':
    case 'oneOf':
      return 'Does not match any allowed form.'
    default:
      return error.message ?? 'Invalid value.'
  }
}

/** Ajv errors as the spec's `errors: {field: [messages]}`; the first message per keyword and field. */
export function fieldErrors(errors: readonly ErrorObject[]): Record<string, string[]> {
  const result: Record<string, string[]> = {}
  for (const error of errors) {
    // anyOf/oneOf report each branch's failure too; the summary line is enough
    if (errors.some((other) => (other.keyword === 'anyOf' || other.keyword === 'oneOf') && other.instancePath === error.instancePath) && error.keyword !== 'anyOf' && error.keyword !== 'oneOf') continue
    const field = fieldOf(error)
    const message = messageOf(error)
    const list = (result[field] ??= [])
    if (!list.includes(message)) list.push(message)
  }
  return result
}

/**
 * The body validator, for input that arrives inside a larger document (one row of a bulk import):
 * returns null when the value is valid, else the same field errors a request body would get.
 */
export function compileBodyValidator(schema: object): (value: unknown) => Record<string, string[]> | null {
  const validate = bodyAjv.compile(schema)
  return (value) => (validate(value) ? null : fieldErrors(validate.errors ?? []))
}
