import { createRequire } from 'node:module'
import t from 'tap'
import { startTestApp } from '../support/testApp.ts'

/**
 * The OpenAPI document at /docs/json, built from the routes' TypeBox schemas, and Swagger UI at
 * /docs: a valid OpenAPI 3.1 document (every schema in it compiles as JSON Schema 2020-12) with
 * the main paths, their parameters and bodies, tags and security; neither needs a token or is
 * rate limited.
 */
const require = createRequire(import.meta.url)
// the JSON Schema 2020-12 dialect of Ajv: OpenAPI 3.1's schemas are JSON Schema 2020-12
const Ajv2020 = require('ajv/dist/2020.js') as typeof import('ajv').default
const addFormats = require('ajv-formats') as (ajv: InstanceType<typeof Ajv2020>) => unknown

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'] as const

const MAIN_PATHS: Record<string, string[]> = {
  '/api/auth/register/': ['post'],
  '/api/auth/login/': ['post'],
  '/api/auth/token/refresh/': ['post'],
  '/api/auth/profile/': ['get', 'put'],
  '/api/tenants/': ['get', 'post'],
  '/api/tenants/{id}/': ['get', 'put'],
  '/api/messaging/contacts/': ['get', 'post'],
  '/api/messaging/contacts/{id}/': ['get', 'put', 'delete'],
  '/api/messaging/contacts/bulk-import/': ['post'],
  '/api/messaging/segments/': ['get', 'post'],
  '/api/messaging/templates/': ['get', 'post'],
  '/api/messaging/campaigns/': ['get', 'post'],
  '/api/messaging/campaigns/{id}/start/': ['post'],
  '/api/messaging/conversations/': ['get', 'post'],
  '/api/messaging/messages/': ['get', 'post'],
  '/api/messaging/activity/recent/': ['get'],
  '/api/messaging/activity/statistics/': ['get'],
  '/api/messaging/activity/stream/': ['get'],
  '/api/messaging/performance/overview/': ['get'],
  '/api/messaging/analytics/overview/': ['get'],
  '/api/messaging/sms/validate-phone/': ['post'],
  '/api/billing/plans/': ['get'],
  '/health': ['get'],
  '/ready': ['get'],
  '/metrics': ['get'],
}

t.test('/docs/json is an OpenAPI 3.1 document of every route', async (t) => {
  const { app } = await startTestApp(t, { label: 'openapi', env: { RATE_LIMITS_ENABLED: 'true' } })
  const response = await app.inject({ method: 'GET', url: '/docs/json' })
  t.equal(response.statusCode, 200)
  t.match(response.headers['content-type'], /application\/json/)
  t.equal(response.headers['x-ratelimit-limit'], undefined, 'not rate limited')
  const doc = response.json()

  t.match(doc.openapi, /^3\.1\.\d+$/, 'OpenAPI 3.1')
  t.match(doc.info, { title: String, version: String })
  t.type(doc.paths, 'object')
  for (const [path, methods] of Object.entries(MAIN_PATHS)) {
    t.ok(doc.paths[path], `${path} is documented`)
    for (const method of methods) t.ok(doc.paths[path]?.[method], `${method.toUpperCase()} ${path}`)
  }
  t.notOk(Object.keys(doc.paths).some((path) => path.startsWith('/docs')), 'the documentation routes document nothing')
  t.notOk(Object.keys(doc.paths).some((path) => path.includes(':')), 'path parameters are written {name}')

  // the structure of every operation, and its tags and security
  const knownTags = new Set((doc.tags as { name: string }[]).map((tag) => tag.name))
  for (const tag of ['auth', 'tenants', 'contacts', 'segments', 'templates', 'campaigns', 'conversations', 'messages', 'activity', 'analytics', 'sms', 'billing', 'admin', 'webhooks', 'operations']) {
    t.ok(knownTags.has(tag), `tag ${tag}`)
  }
  const schemes = doc.components.securitySchemes
  t.match(schemes.bearerAuth, { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' })
  t.match(schemes.apiKeyHeader, { type: 'apiKey', in: 'header', name: 'X-API-Key' })
  t.match(schemes.accessTokenQuery, { type: 'apiKey', in: 'query', name: 'access_token' })
  let operations = 0
  const problems: string[] = []
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, operation] of Object.entries<any>(item)) {
      if (!(METHODS as readonly string[]).includes(method)) {
        problems.push(`${path}: unexpected key ${method}`)
        continue
      }
      operations++
      if (!operation.responses || Object.keys(operation.responses).length === 0) problems.push(`${method} ${path}: no responses`)
      if (!Array.isArray(operation.tags) || operation.tags.length === 0 || !operation.tags.every((tag: string) => knownTags.has(tag))) problems.push(`${method} ${path}: tags ${operation.tags}`)
      for (const requirement of operation.security ?? []) for (const name of Object.keys(requirement)) if (!schemes[name]) problems.push(`${method} ${path}: unknown security ${name}`)
      for (const parameter of operation.parameters ?? []) {
        if (!['query', 'path', 'header', 'cookie'].includes(parameter.in) || typeof parameter.name !== 'string') problems.push(`${method} ${path}: bad parameter ${JSON.stringify(parameter)}`)
        if (parameter.in === 'path' && (parameter.required !== true || !path.includes(`{${parameter.name}}`))) problems.push(`${method} ${path}: path parameter ${parameter.name}`)
      }
      for (const name of path.match(/\{([^}]+)\}/g) ?? []) {
        if (!(operation.parameters ?? []).some((p: any) => p.in === 'path' && `{${p.name}}` === name)) problems.push(`${method} ${path}: ${name} not declared`)
      }
    }
  }
  t.same(problems, [], 'every operation is well formed')
  t.ok(operations >= 80, `${operations} operations`)

  // every schema in it is valid JSON Schema 2020-12
  const ajv = new Ajv2020({ strict: false, allErrors: true })
  addFormats(ajv)
  const invalid: string[] = []
  const check = (where: string, schema: unknown) => {
    try {
      ajv.compile(schema as object)
    } catch (error) {
      invalid.push(`${where}: ${(error as Error).message}`)
    }
  }
  for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
    for (const [method, operation] of Object.entries<any>(item)) {
      for (const parameter of operation.parameters ?? []) check(`${method} ${path} ${parameter.name}`, parameter.schema)
      for (const [type, media] of Object.entries<any>(operation.requestBody?.content ?? {})) check(`${method} ${path} body ${type}`, media.schema)
      for (const [status, answer] of Object.entries<any>(operation.responses ?? {})) {
        for (const [type, media] of Object.entries<any>(answer.content ?? {})) check(`${method} ${path} ${status} ${type}`, media.schema)
      }
    }
  }
  t.same(invalid, [], 'every schema compiles')

  // the TypeBox schemas came through: a body, a query, a path parameter, a header
  const contactCreate = doc.paths['/api/messaging/contacts/'].post
  t.match(contactCreate.requestBody.content['application/json'].schema, { type: 'object', properties: { name: Object, phone_e164: Object } })
  t.same(contactCreate.tags, ['contacts'])
  t.same(contactCreate.security, [{ bearerAuth: [] }, { apiKeyHeader: [] }, { apiKeyAuthorization: [] }])
  const recent = doc.paths['/api/messaging/activity/recent/'].get
  t.match(
    recent.parameters.find((p: any) => p.name === 'limit'),
    { in: 'query', schema: { type: 'integer', minimum: 1, maximum: 100, default: 10 } },
  )
  const stream = doc.paths['/api/messaging/activity/stream/'].get
  t.ok(stream.parameters.some((p: any) => p.in === 'header' && p.name === 'last-event-id'), 'the Last-Event-ID header')
  t.ok(stream.parameters.some((p: any) => p.in === 'query' && p.name === 'last_event_id'), 'the last_event_id query parameter')
  t.ok(stream.responses['200'].content['text/event-stream'], 'an event stream')
  // ?access_token= is documented as a security scheme (the generator leaves the parameter out for it)
  t.ok(stream.security.some((requirement: object) => 'accessTokenQuery' in requirement), 'the access_token query parameter')
  t.match(doc.paths['/api/messaging/contacts/{id}/'].get.parameters.find((p: any) => p.in === 'path'), { name: 'id', required: true })

  // public routes say they need nothing
  for (const path of ['/api/auth/register/', '/api/auth/login/', '/api/auth/token/refresh/']) t.same(doc.paths[path].post.security, [], `${path} is public`)
  t.same(doc.paths['/health'].get.security, [])
  t.same(doc.paths['/api/messaging/sms/inbound/'].post.tags, ['webhooks'])
  t.same(doc.paths['/api/tenants/{id}/webhook-secret/'].get.tags, ['webhooks'])
  t.same(doc.paths['/api/messaging/performance/overview/'].get.tags, ['analytics'])
})

t.test('/docs serves Swagger UI', async (t) => {
  const { app } = await startTestApp(t, { label: 'swagger_ui', env: { RATE_LIMITS_ENABLED: 'true' } })
  let page = await app.inject({ method: 'GET', url: '/docs' })
  if (page.statusCode >= 300 && page.statusCode < 400) page = await app.inject({ method: 'GET', url: String(page.headers.location) })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.match(page.body, /swagger-ui/i)
  t.equal(page.headers['x-ratelimit-limit'], undefined, 'not rate limited')
  const script = await app.inject({ method: 'GET', url: '/docs/static/swagger-initializer.js' })
  t.equal(script.statusCode, 200)
  t.match(script.body, /json/, 'the UI loads the document')
  const yaml = await app.inject({ method: 'GET', url: '/docs/yaml' })
  t.equal(yaml.statusCode, 200)
  t.match(yaml.body, /^openapi: 3\.1/m)
})
