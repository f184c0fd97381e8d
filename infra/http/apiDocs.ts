import fastifySwagger from '@fastify/swagger'
import fastifySwaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance, FastifySchema } from 'fastify'
import fp from 'fastify-plugin'

/**
 * The OpenAPI document, built from every route's TypeBox schemas (body, querystring, params,
 * headers, responses where given) as the routes register: GET /docs/json (and /docs/yaml), and
 * Swagger UI at /docs. Register it before the routes. Tags and security come from the path here,
 * unless a route's schema sets its own.
 */
export interface ApiDocsOptions {
  version: string
}

/** Route groups by path prefix, most specific first. */
const TAGS_BY_PREFIX: readonly [prefix: string, tag: string][] = [
  ['/api/auth/', 'auth'],
  ['/api/tenants/:id/webhook-secret', 'webhooks'],
  ['/api/tenants/', 'tenants'],
  ['/api/messaging/contacts/', 'contacts'],
  ['/api/messaging/segments/', 'segments'],
  ['/api/messaging/templates/', 'templates'],
  ['/api/messaging/campaigns/', 'campaigns'],
  ['/api/messaging/conversations/', 'conversations'],
  ['/api/messaging/messages/', 'messages'],
  ['/api/messaging/activity/', 'activity'],
  ['/api/messaging/performance/', 'analytics'],
  ['/api/messaging/analytics/', 'analytics'],
  ['/api/messaging/sms/delivery-report/', 'webhooks'],
  ['/api/messaging/sms/inbound/', 'webhooks'],
  ['/api/messaging/sms/', 'sms'],
  ['/api/billing/', 'billing'],
  ['/api/admin/', 'admin'],
]

const TAG_DESCRIPTIONS: Record<string, string> = {
  auth: 'Registration, sign-in, tokens, passwords, email verification, API keys',
  tenants: 'Tenants and their members',
  contacts: 'Contacts: create or upsert, list, bulk import, opt in and out',
  segments: 'Saved contact criteria',
  templates: 'Message templates and their approval',
  campaigns: 'Campaigns: targeting, dry runs, start, pause, resume, cancel, complete',
  conversations: 'Conversations with contacts',
  messages: 'Messages of conversations and campaigns, and their delivery status',
  activity: 'The dashboard activity feed, its statistics and its live stream (SSE)',
  analytics: 'Performance overview and analytics counters',
  sms: 'Phone validation, sending, balance and statistics',
  billing: 'Plans, subscription and usage',
  admin: 'Platform operators: projections, replays, event streams',
  webhooks: "Providers' signed delivery reports and inbound SMS, and the tenants' webhook secrets",
  operations: 'Health, readiness and metrics',
}

/** Routes that need no user credentials (the others take a bearer token or an API key). */
const PUBLIC_ROUTES = new Set([
  '/api/auth/register/',
  '/api/auth/login/',
  '/api/auth/token/refresh/',
  '/api/auth/password/reset/',
  '/api/auth/password/reset/confirm/',
  '/api/auth/verify-email/',
  '/api/messaging/sms/delivery-report/',
  '/api/messaging/sms/inbound/',
])

/** What a route that needs a user accepts (the document's default for every route outside PUBLIC_ROUTES). */
export const USER_SECURITY: readonly Record<string, readonly string[]>[] = [{ bearerAuth: [] }, { apiKeyHeader: [] }, { apiKeyAuthorization: [] }]

export function tagOf(url: string): string {
  for (const [prefix, tag] of TAGS_BY_PREFIX) if (url.startsWith(prefix)) return tag
  return 'operations'
}

export const apiDocs = fp(
  async (app: FastifyInstance, options: ApiDocsOptions) => {
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Mifumo messaging API',
          version: options.version,
          description:
            'Contacts, templates, campaigns, conversations and the dashboard of the Mifumo SMS/WhatsApp platform. ' +
            'Commands answer `position`; a query with `?min_position=` waits for its read model to reach it.',
        },
        tags: Object.entries(TAG_DESCRIPTIONS).map(([name, description]) => ({ name, description })),
        components: {
          securitySchemes: {
            bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An access token from /api/auth/login/ (or register, refresh)' },
            apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An API key (`mk_…`) from /api/auth/api-key/generate/' },
            apiKeyAuthorization: { type: 'apiKey', in: 'header', name: 'Authorization', description: 'An API key as `Api-Key mk_…`' },
            accessTokenQuery: { type: 'apiKey', in: 'query', name: 'access_token', description: 'The access token in the query string: only GET /api/messaging/activity/stream/ (a browser EventSource cannot send headers)' },
            metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN, when the server sets one' },
          },
        },
      },
      transform: ({ schema, url, route }) => {
        const given: FastifySchema & { tags?: readonly string[]; security?: readonly object[]; hide?: boolean } = schema ?? {}
        // HEAD twins of GET routes add nothing to the document
        if (route.method === 'HEAD' || (Array.isArray(route.method) && route.method.includes('HEAD'))) return { schema: { ...given, hide: true }, url }
        const tags = given.tags ?? [tagOf(url)]
        const security = given.security ?? (tags[0] === 'operations' || PUBLIC_ROUTES.has(url) ? [] : USER_SECURITY)
        return { schema: { ...given, tags, security } as FastifySchema, url }
      },
    })
    await app.register(fastifySwaggerUi, {
      routePrefix: '/docs',
      uiConfig: { docExpansion: 'list', deepLinking: true },
    })
  },
  { name: 'api-docs' },
)
