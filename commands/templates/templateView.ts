import type { ExistingTemplate, TemplateChannel, TemplateStatus } from './templateDecider.ts'

/**
 * A template as the API shows it. Command answers build it from the aggregate's state
 * (`templateView`), the list and detail queries from the read model's row (queries/templateRoutes.ts):
 * both return this type, so the two cannot drift apart.
 */
export interface TemplateView {
  id: string
  name: string
  channel: TemplateChannel
  category: string
  language: string
  content: string
  variables: string[]
  status: TemplateStatus
  created_at: string
  updated_at: string
  approved_at: string | null
  /** the approver's display name */
  approved_by: string | null
  rejected_at: string | null
  /** the reviewer's display name, while the template is rejected */
  rejected_by: string | null
  rejection_reason: string | null
  /** the author's display name */
  created_by: string
}

/** A template as the API shows it, from the aggregate's state. */
export function templateView(template: ExistingTemplate): TemplateView {
  return {
    id: template.templateId,
    name: template.name,
    channel: template.channel,
    category: template.category,
    language: template.language,
    content: template.content,
    variables: template.variables,
    status: template.status,
    created_at: template.createdAt,
    updated_at: template.updatedAt,
    approved_at: template.approvedAt,
    approved_by: template.approvedBy?.name ?? null,
    rejected_at: template.rejectedAt,
    rejected_by: template.rejectedBy?.name ?? null,
    rejection_reason: template.rejectionReason,
    created_by: template.createdBy.name,
  }
}
