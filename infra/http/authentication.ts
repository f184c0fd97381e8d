import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AuthenticationRequired, BadRequest, PermissionDenied } from '../errors.ts'

export type TenantRole = 'admin' | 'user' | 'agent'

/** What a verified access token says about the caller. */
export interface Principal {
  userId: string
  /** null for a user who belongs to no tenant: tenant-scoped routes answer the spec's 400 */
  tenantId: string | null
  role: TenantRole | null
  name: string
  email: string
  /** how the caller proved who they are: a bearer token (the default) or an API key */
  authenticatedWith?: 'token' | 'api_key'
  /** an operator of the whole platform (not of one tenant): the admin endpoints are theirs */
  platformAdmin?: boolean
}

export interface TenantPrincipal extends Principal {
  tenantId: string
  role: TenantRole
}

/** JWT claims. `typ` keeps a refresh token from being used as an access token and back. */
export interface TokenClaims {
  sub: string
  tid: string | null
  role: TenantRole | null
  name: string
  email: string
  typ: 'access' | 'refresh'
  /** the user's credential version when the token was issued; a password change raises it */
  cv?: number
  /** present and true for a platform operator */
  padm?: boolean
}

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: TokenClaims
    user: TokenClaims & { iat: number; exp: number }
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null
  }
  interface FastifyInstance {
    /** preHandler: the caller must present a valid access token */
    authenticate(request: FastifyRequest): Promise<void>
    /** preHandler: a valid access token of a platform operator (tenant admins get 403) */
    requirePlatformAdmin(request: FastifyRequest): Promise<void>
    /** sign a token pair for a principal, under the user's current credential version */
    issueTokens(principal: Principal, options?: { credentialVersion?: number }): { access: string; refresh: string }
    /** verify a refresh token and return its claims */
    verifyRefreshToken(token: string): TokenClaims & { iat: number; exp: number }
  }
}

export interface AuthenticationOptions {
  secret: string
  accessTtlSeconds: number
  refreshTtlSeconds: number
  /**
   * The user's current credential version (null: the user has no credentials any more). When
   * given, an access token issued under another version is refused: a password change ends every
   * session opened before it. Expected to be cached (it runs on every authenticated request).
   */
  currentCredentialVersion?: (userId: string) => Promise<number | null>
  /**
   * The user's credential version when it is known at once (cached and fresh), `undefined`
   * otherwise (then `currentCredentialVersion` is asked). Lets a request with a known token and
   * a known version be authenticated without waiting on anything.
   */
  knownCredentialVersion?: (userId: string) => number | null | undefined
  /** The principal an API key acts as, or null for an unknown or revoked key. Without it, API keys are refused. */
  verifyApiKey?: (key: string) => Promise<Principal | null>
}

/** An access token this process has verified, with the principal it makes (shared, never changed). */
interface VerifiedToken {
  claims: TokenClaims
  expiresAtMs: number
  principal: Readonly<Principal>
}

function principalOf(claims: TokenClaims): Principal {
  return {
    userId: claims.sub,
    tenantId: claims.tid ?? null,
    role: claims.role ?? null,
    name: claims.name,
    email: claims.email,
    authenticatedWith: 'token',
    platformAdmin: claims.padm === true,
  }
}

const NO_TENANT = 'User is not associated with any tenant'

/** The caller of a tenant-scoped route; the spec's 400 when the token names no tenant. */
export function tenantPrincipal(request: FastifyRequest): TenantPrincipal {
  const principal = request.principal
  if (!principal) throw new AuthenticationRequired()
  if (!principal.tenantId || !principal.role) throw new BadRequest(NO_TENANT)
  return principal as TenantPrincipal
}

const BEARER = /^Bearer\s+\S+$/i
/** verified access tokens kept per process (see `authenticate`) */
const VERIFIED_TOKENS_KEPT = 10_000
const API_KEY_SCHEME = /^Api-Key\s+(\S+)$/i

/**
 * HS256 bearer tokens through @fastify/jwt, with the algorithm pinned and `exp` required. Access
 * and refresh tokens carry the user, tenant, role and credential version; a missing, malformed,
 * expired, wrong-type or revoked token is a 401 with the spec's body.
 *
 * Scripts may present an API key instead: `Authorization: Api-Key <key>` or `X-API-Key: <key>`.
 * The key is checked by the injected `verifyApiKey` (this module knows nothing of where keys live);
 * an unknown or revoked key is the same 401.
 */
export const authentication = fp(
  async (app: FastifyInstance, options: AuthenticationOptions) => {
    await app.register(fastifyJwt, {
      secret: options.secret,
      sign: { algorithm: 'HS256' },
      verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'sub', 'typ'] },
    })
    app.decorateRequest('principal', null)

    // Access tokens whose signature this process has verified, by Authorization header, with the
    // principal they make: a busy client sends the same token on every request, and checking the
    // HMAC again each time is most of what authentication costs. Expiry and the credential
    // version are still checked on every request. Bounded; the oldest go first.
    const verifiedTokens = new Map<string, VerifiedToken>()
    const rememberVerified = (header: string, claims: TokenClaims & { exp: number }): Principal => {
      const principal: Principal = Object.freeze(principalOf(claims))
      if (typeof claims.exp !== 'number') return principal
      if (verifiedTokens.size >= VERIFIED_TOKENS_KEPT) {
        const oldest = verifiedTokens.keys().next()
        if (!oldest.done) verifiedTokens.delete(oldest.value)
      }
      verifiedTokens.set(header, { claims, expiresAtMs: claims.exp * 1000, principal })
      return principal
    }
    // The token a connection presented last: a client sends the same header on every request of
    // its connection, and comparing it with the last one is cheaper than hashing it for the map.
    const lastTokenOfConnection = new WeakMap<object, { header: string; token: VerifiedToken }>()
    const verifiedToken = (request: FastifyRequest, header: string): VerifiedToken | undefined => {
      const connection = request.raw.socket
      const last = connection ? lastTokenOfConnection.get(connection) : undefined
      if (last !== undefined && last.header === header) return last.token
      const token = verifiedTokens.get(header)
      if (token !== undefined && connection) lastTokenOfConnection.set(connection, { header, token })
      return token
    }
    /** The token's principal when its user's credential version is the one it was issued under. */
    const whenCurrent = async (claims: TokenClaims, principal: Principal): Promise<Principal> => {
      const current = await options.currentCredentialVersion!(claims.sub)
      if (current === null || (claims.cv ?? 0) !== current) throw new AuthenticationRequired()
      return principal
    }

    const byApiKey = async (key: string): Promise<Principal> => {
      const principal = options.verifyApiKey ? await options.verifyApiKey(key) : null
      if (!principal) throw new AuthenticationRequired()
      // an API key never carries platform-admin rights, whoever made it: operators sign in
      return { ...principal, authenticatedWith: 'api_key', platformAdmin: false }
    }

    app.decorate('authenticate', async (request: FastifyRequest) => {
      const header = request.headers.authorization
      const apiKeyHeader = request.headers['x-api-key']
      if (!header) {
        if (typeof apiKeyHeader === 'string' && apiKeyHeader.trim() !== '') {
          request.principal = await byApiKey(apiKeyHeader.trim())
          return
        }
        throw new AuthenticationRequired()
      }
      // an access token verified before: its signature cannot have changed; its expiry and its
      // user's credential version are checked again (without waiting when the version is known)
      const known = verifiedToken(request, header)
      if (known !== undefined && known.expiresAtMs > Date.now()) {
        if (!options.currentCredentialVersion) {
          request.principal = known.principal
          return
        }
        const version = options.knownCredentialVersion?.(known.claims.sub)
        if (version === undefined) {
          request.principal = await whenCurrent(known.claims, known.principal)
          return
        }
        if (version === null || (known.claims.cv ?? 0) !== version) throw new AuthenticationRequired()
        request.principal = known.principal
        return
      }
      const apiKey = API_KEY_SCHEME.exec(header)
      if (apiKey) {
        request.principal = await byApiKey(apiKey[1]!)
        return
      }
      if (!BEARER.test(header)) throw new AuthenticationRequired()
      let claims: TokenClaims
      try {
        claims = await request.jwtVerify<TokenClaims>()
      } catch {
        throw new AuthenticationRequired()
      }
      if (claims.typ !== 'access') throw new AuthenticationRequired()
      const principal = rememberVerified(header, claims as TokenClaims & { exp: number })
      request.principal = options.currentCredentialVersion ? await whenCurrent(claims, principal) : principal
    })

    app.decorate('requirePlatformAdmin', async (request: FastifyRequest) => {
      await app.authenticate(request)
      // the `padm` claim of a token (an API key never carries it): granted and revoked with
      // `mifumo admin`, read again at every sign-in, refresh and tenant switch
      const principal = request.principal
      if (principal?.platformAdmin !== true || principal.authenticatedWith === 'api_key') throw new PermissionDenied('Only platform administrators may use this endpoint.')
    })

    app.decorate('issueTokens', (principal: Principal, issue: { credentialVersion?: number } = {}) => {
      const claims = {
        sub: principal.userId,
        tid: principal.tenantId,
        role: principal.role,
        name: principal.name,
        email: principal.email,
        cv: issue.credentialVersion ?? 0,
        ...(principal.platformAdmin ? { padm: true } : {}),
      }
      return {
        access: app.jwt.sign({ ...claims, typ: 'access' }, { expiresIn: options.accessTtlSeconds }),
        refresh: app.jwt.sign({ ...claims, typ: 'refresh' }, { expiresIn: options.refreshTtlSeconds }),
      }
    })

    app.decorate('verifyRefreshToken', (token: string) => {
      let claims: TokenClaims & { iat: number; exp: number }
      try {
        claims = app.jwt.verify<TokenClaims & { iat: number; exp: number }>(token)
      } catch {
        throw new AuthenticationRequired('Token is invalid or expired')
      }
      if (claims.typ !== 'refresh') throw new AuthenticationRequired('Token is invalid or expired')
      return claims
    })
  },
  { name: 'authentication' },
)
