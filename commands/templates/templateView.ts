import type { ExistingTemplate } from './templateDecider.ts'

/** A template as the API shows it, from the aggregate's state. */
export function templateView(template: ExistingTemplate) {
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
  }
}
