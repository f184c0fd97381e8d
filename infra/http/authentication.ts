import fastifyJwt from '@fastify/jwt'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { AuthenticationRequired, BadRequest } from '../errors.ts'

export type TenantRole = 'admin' | 'user' | 'agent'

/** What a verified access token says about the caller. */
export interface Principal {
  userId: string
  /** null for a user who belongs to no tenant: tenant-scoped routes answer the spec's 400 */
  tenantId: string | null
  role: TenantRole | null
  name: string
  email: string
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
    /** sign a token pair for a principal */
    issueTokens(principal: Principal): { access: string; refresh: string }
    /** verify a refresh token and return its claims */
    verifyRefreshToken(token: string): TokenClaims & { iat: number; exp: number }
  }
}

export interface AuthenticationOptions {
  secret: string
  accessTtlSeconds: number
  refreshTtlSeconds: number
}

const NO_TENANT = 'User is not associated with any tenant'

/** The caller of a tenant-scoped route; the spec's 400 when the token names no tenant. */
export function tenantPrincipal(request: FastifyRequest): TenantPrincipal {
  const principal = request.principal
  if (!principal) throw new AuthenticationRequired()
  if (!principal.tenantId || !principal.role) throw new BadRequest(NO_TENANT)
  return principal as TenantPrincipal
}

/**
 * HS256 bearer tokens through @fastify/jwt, with the algorithm pinned and `exp` required. Access
 * and refresh tokens carry the user, tenant and role; a missing, malformed, expired or wrong-type
 * token is a 401 with the spec's body.
 */
export const authentication = fp(
  async (app: FastifyInstance, options: AuthenticationOptions) => {
    await app.register(fastifyJwt, {
      secret: options.secret,
      sign: { algorithm: 'HS256' },
      verify: { algorithms: ['HS256'], requiredClaims: ['exp', 'sub', 'typ'] },
    })
    app.decorateRequest('principal', null)

    app.decorate('authenticate', async (request: FastifyRequest) => {
      const header = request.headers.authorization
      if (!header || !/^Bearer\s+\S+$/i.test(header)) throw new AuthenticationRequired()
      let claims: TokenClaims
      try {
        claims = await request.jwtVerify<TokenClaims>()
      } catch {
        throw new AuthenticationRequired()
      }
      if (claims.typ !== 'access') throw new AuthenticationRequired()
      request.principal = {
        userId: claims.sub,
        tenantId: claims.tid ?? null,
        role: claims.role ?? null,
        name: claims.name,
        email: claims.email,
      }
    })

    app.decorate('issueTokens', (principal: Principal) => {
      const claims = {
        sub: principal.userId,
        tid: principal.tenantId,
        role: principal.role,
        name: principal.name,
        email: principal.email,
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
