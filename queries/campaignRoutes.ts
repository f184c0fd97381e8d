import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { Kysely } from 'kysely'
import { Type } from 'typebox'
import { CAMPAIGN_STATUSES, CAMPAIGN_TYPE_DISPLAY, CAMPAIGN_TYPES, can, isActive, STATUS_DISPLAY } from '../commands/campaigns/campaignStatus.ts'
import type { CampaignType } from '../commands/campaigns/campaignEvents.ts'
import { NotFound } from '../infra/errors.ts'
import { tenantPrincipal } from '../infra/http/authentication.ts'
import { campaignBoard, findCampaign, listCampaigns, type CampaignBoardRow, type CampaignBoardTables } from '../projections/campaignBoard.ts'
import { readModel } from '../projections/engine/projection.ts'
import type { ProjectionEngine } from '../projections/engine/projectionEngine.ts'
import { PageQuery, pageLinks } from './pagination.ts'
import { awaitPosition, MinPosition } from './readYourWrites.ts'

export interface CampaignQueryRoutesOptions {
  db: Kysely<any>
  engine: ProjectionEngine
  readYourWritesTimeoutMs: number
}

const CampaignListQuery = Type.Object({
  status: Type.Optional(Type.Enum([...CAMPAIGN_STATUSES])),
  type: Type.Optional(Type.Enum([...CAMPAIGN_TYPES])),
  ...PageQuery,
  min_position: MinPosition,
})

const CampaignParams = Type.Object({ id: Type.String({ format: 'uuid' }) })
const CampaignQuery = Type.Object({ min_position: MinPosition })

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString())
const json = (value: Record<string, unknown> | string): Record<string, unknown> => (typeof value === 'string' ? JSON.parse(value) : value)
/** part ÷ whole × 100 to one decimal; 0 when the whole is 0 */
const percent = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 1000) / 10 : 0)
const money = (amount: number): number => Math.round(amount * 100) / 100

/**
 * A campaign with its real-time numbers and what may be done with it (the spec's list sample):
 * - sent_count: messages the provider accepted (messageSent);
 * - progress_percentage: messages with a final outcome (delivered, read, failed, or cancelled —
 *   never sent because the contact opted out or the campaign ended) ÷ recipients;
 * - delivery_rate: delivered (or read) ÷ sent; read_rate: read ÷ delivered; in %, one decimal;
 * - actual_cost: sent × billable parts per message × price per part;
 * - is_active: scheduled, running or paused; can_*: the state machine's rules.
 */
export function campaignBoardView(row: CampaignBoardRow) {
  const sent = Number(row.sent)
  const delivered = Number(row.delivered)
  const read = Number(row.read)
  const failed = Number(row.failed)
  const cancelled = Number(row.cancelled)
  return {
    id: row.campaign_id,
    name: row.name,
    description: row.description,
    campaign_type: row.campaign_type,
    campaign_type_display: CAMPAIGN_TYPE_DISPLAY[row.campaign_type as CampaignType] ?? row.campaign_type,
    message_text: row.message_text,
    template: row.template_id,
    status: row.status,
    status_display: STATUS_DISPLAY[row.status] ?? row.status,
    scheduled_at: iso(row.scheduled_at),
    started_at: iso(row.started_at),
    completed_at: iso(row.completed_at),
    total_recipients: row.total_recipients,
    sent_count: sent,
    delivered_count: delivered,
    read_count: read,
    failed_count: failed,
    estimated_cost: row.estimated_cost,
    actual_cost: money(sent * row.billable_parts * row.price_per_part),
    progress_percentage: Math.min(100, percent(delivered + failed + cancelled, row.total_recipients)),
    delivery_rate: percent(delivered, sent),
    read_rate: percent(read, delivered),
    is_active: isActive(row.status),
    can_edit: can('edit', row.status),
    can_start: can('start', row.status),
    can_pause: can('pause', row.status),
    can_cancel: can('cancel', row.status),
    is_recurring: row.is_recurring,
    recurring_schedule: json(row.recurring_schedule),
    settings: json(row.settings),
    created_by: row.created_by,
    created_by_name: row.created_by_name,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
    target_contact_count: row.target_contact_count,
    target_segment_names: row.target_segment_names,
  }
}

export const campaignQueryRoutes: FastifyPluginAsyncTypebox<CampaignQueryRoutesOptions> = async (app, { db, engine, readYourWritesTimeoutMs }) => {
  const board = readModel<CampaignBoardTables>(db, campaignBoard)
  app.addHook('preHandler', app.authenticate)

  app.get('/api/messaging/campaigns/', { schema: { querystring: CampaignListQuery }, config: { rateLimit: 'campaigns' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    const { page, page_size: pageSize } = request.query
    await awaitPosition(engine, reply, [campaignBoard.name], request.query.min_position, readYourWritesTimeoutMs)
    const { rows, count } = await listCampaigns(board, { tenantId, status: request.query.status, campaignType: request.query.type }, page, pageSize)
    return { success: true, data: { results: rows.map(campaignBoardView), ...pageLinks(request, page, pageSize, count) } }
  })

  app.get('/api/messaging/campaigns/:id/', { schema: { params: CampaignParams, querystring: CampaignQuery }, config: { rateLimit: 'campaigns' } }, async (request, reply) => {
    const { tenantId } = tenantPrincipal(request)
    await awaitPosition(engine, reply, [campaignBoard.name], request.query.min_position, readYourWritesTimeoutMs)
    const row = await findCampaign(board, tenantId, request.params.id.toLowerCase())
    if (!row) throw new NotFound('Campaign not found')
    return { success: true, data: campaignBoardView(row) }
  })
}
