import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'

export const PageQuery = {
  page: Type.Integer({ minimum: 1, default: 1 }),
  page_size: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
}

/** `count`, `next` and `previous` as the spec's list samples show them (absolute page links). */
export function pageLinks(request: FastifyRequest, page: number, pageSize: number, count: number): { count: number; next: string | null; previous: string | null } {
  const link = (target: number): string => {
    const url = new URL(request.url, `${request.protocol}://${request.host}`)
    url.searchParams.set('page', String(target))
    return url.toString()
  }
  return {
    count,
    next: page * pageSize < count ? link(page + 1) : null,
    previous: page > 1 ? link(page - 1) : null,
  }
}
