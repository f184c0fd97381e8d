import { UpcasterRegistry, type Upcaster } from '../infra/eventStore/upcasting.ts'

/**
 * The schema history of our events. When an event type's data changes shape: give the new shape
 * to its TypeBox schema, and add here an upcaster from the previous version, e.g.
 *
 *   { type: 'contactOptedOut', fromVersion: 1, upcast: (data) => ({ ...(data as object), channel: 'sms' }) }
 *
 * New events are then written as version 2, and every version-1 event in the log is read as a
 * version-2 one — by deciders, projections and replays alike. No event type has changed shape yet.
 */
export const eventUpcasters: readonly Upcaster[] = []

export const eventVersions = new UpcasterRegistry(eventUpcasters)
