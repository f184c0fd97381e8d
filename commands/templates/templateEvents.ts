import { Type, type Static } from 'typebox'
import { ActorData, Channel } from '../eventParts.ts'

/** Every template event names its template and tenant; the descriptive facts follow. */
const TemplateRefs = {
  templateId: Type.String(),
  tenantId: Type.String(),
}

/** The editable facts of a template, as they stand after the event. */
const TemplateContent = {
  name: Type.String(),
  channel: Channel,
  /** free text, lowercase ("onboarding", "marketing", "transactional"…) */
  category: Type.String(),
  /** BCP-47 language code ("sw", "en") */
  language: Type.String(),
  content: Type.String(),
  /** names of the {{variables}} in content, in order of first appearance */
  variables: Type.Array(Type.String()),
}

const TemplateContentFacts = Type.Object(TemplateContent)
export type TemplateContentFacts = Static<typeof TemplateContentFacts>

/** The editable facts out of a templateCreated or templateUpdated, for the state and the read models that fold them. */
export function templateContentOf(data: TemplateContentFacts): TemplateContentFacts {
  return { name: data.name, channel: data.channel, category: data.category, language: data.language, content: data.content, variables: data.variables }
}

export const TemplateCreated = Type.Object({
  type: Type.Literal('templateCreated'),
  data: Type.Object({
    ...TemplateRefs,
    ...TemplateContent,
    createdBy: ActorData,
    at: Type.String(),
  }),
})

/**
 * An edit of a draft, pending or rejected template: all its editable facts after the edit, and
 * the status it is in afterwards (an edited rejected template is a draft again; the others keep
 * their status).
 */
export const TemplateUpdated = Type.Object({
  type: Type.Literal('templateUpdated'),
  data: Type.Object({
    ...TemplateRefs,
    ...TemplateContent,
    status: Type.Union([Type.Literal('draft'), Type.Literal('pending')]),
    updatedBy: ActorData,
    at: Type.String(),
  }),
})

/** A draft submitted for review: it is pending until approved or rejected. */
export const TemplateSubmitted = Type.Object({
  type: Type.Literal('templateSubmitted'),
  data: Type.Object({
    ...TemplateRefs,
    name: Type.String(),
    submittedBy: ActorData,
    at: Type.String(),
  }),
})

/** Carries the template's descriptive facts so the activity feed needs no other read model. */
export const TemplateApproved = Type.Object({
  type: Type.Literal('templateApproved'),
  data: Type.Object({
    ...TemplateRefs,
    name: Type.String(),
    channel: Channel,
    category: Type.String(),
    language: Type.String(),
    approvedBy: ActorData,
    at: Type.String(),
  }),
})

/** A review refused the template, saying why and who. */
export const TemplateRejected = Type.Object({
  type: Type.Literal('templateRejected'),
  data: Type.Object({
    ...TemplateRefs,
    name: Type.String(),
    reason: Type.String(),
    rejectedBy: ActorData,
    at: Type.String(),
  }),
})

/** Soft delete: the template stays in the log, but no list shows it and no new campaign can use it. */
export const TemplateDeleted = Type.Object({
  type: Type.Literal('templateDeleted'),
  data: Type.Object({
    ...TemplateRefs,
    name: Type.String(),
    deletedBy: ActorData,
    at: Type.String(),
  }),
})

export const TemplateEvent = Type.Union([TemplateCreated, TemplateUpdated, TemplateSubmitted, TemplateApproved, TemplateRejected, TemplateDeleted])
export type TemplateEvent = Static<typeof TemplateEvent>
