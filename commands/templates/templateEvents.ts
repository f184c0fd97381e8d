import { Type, type Static } from 'typebox'
import { ActorData, Channel } from '../eventParts.ts'

export const TemplateCreated = Type.Object({
  type: Type.Literal('templateCreated'),
  data: Type.Object({
    templateId: Type.String(),
    tenantId: Type.String(),
    name: Type.String(),
    channel: Channel,
    /** free text, lowercase ("onboarding", "marketing", "transactional"…) */
    category: Type.String(),
    /** BCP-47 language code ("sw", "en") */
    language: Type.String(),
    content: Type.String(),
    /** names of the {{variables}} in content, in order of first appearance */
    variables: Type.Array(Type.String()),
    createdBy: ActorData,
    at: Type.String(),
  }),
})

/** Carries the template's descriptive facts so the activity feed needs no other read model. */
export const TemplateApproved = Type.Object({
  type: Type.Literal('templateApproved'),
  data: Type.Object({
    templateId: Type.String(),
    tenantId: Type.String(),
    name: Type.String(),
    channel: Channel,
    category: Type.String(),
    language: Type.String(),
    approvedBy: ActorData,
    at: Type.String(),
  }),
})

export const TemplateEvent = Type.Union([TemplateCreated, TemplateApproved])
export type TemplateEvent = Static<typeof TemplateEvent>
