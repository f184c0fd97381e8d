import { BusinessRuleViolation } from '../../infra/errors.ts'
import { unreachable, type Decider } from '../decider.ts'
import type { SegmentNameEvent } from './segmentEvents.ts'

export interface SegmentNameState {
  holder: string | null
}

export type SegmentNameCommand =
  | { type: 'claimName'; key: string; name: string; segmentId: string }
  | { type: 'releaseName'; key: string; segmentId: string }

function claimName(command: Extract<SegmentNameCommand, { type: 'claimName' }>, state: SegmentNameState): SegmentNameEvent[] {
  if (state.holder === command.segmentId) return []
  if (state.holder !== null) {
    throw new BusinessRuleViolation(
      'A segment with this name already exists',
      'DUPLICATE_SEGMENT',
      { field: 'name', name: command.name, segment_id: state.holder },
      409,
    )
  }
  return [{ type: 'segmentNameClaimed', data: { key: command.key, segmentId: command.segmentId } }]
}

function releaseName(command: Extract<SegmentNameCommand, { type: 'releaseName' }>, state: SegmentNameState): SegmentNameEvent[] {
  if (state.holder !== command.segmentId) return []
  return [{ type: 'segmentNameReleased', data: { key: command.key, segmentId: command.segmentId } }]
}

export function decide(command: SegmentNameCommand, state: SegmentNameState): SegmentNameEvent[] {
  switch (command.type) {
    case 'claimName':
      return claimName(command, state)
    case 'releaseName':
      return releaseName(command, state)
    default:
      return unreachable(command)
  }
}

export function evolve(state: SegmentNameState, event: SegmentNameEvent): SegmentNameState {
  switch (event.type) {
    case 'segmentNameClaimed':
      return { holder: event.data.segmentId }
    case 'segmentNameReleased':
      return state.holder === event.data.segmentId ? { holder: null } : state
    default:
      return unreachable(event)
  }
}

export const segmentNameDecider: Decider<SegmentNameCommand, SegmentNameEvent, SegmentNameState> = {
  initialState: { holder: null },
  evolve,
  decide,
}
