import { Type } from 'typebox'

/** Schema pieces that several aggregates' events share. */
export const ActorData = Type.Object({ userId: Type.Union([Type.String(), Type.Null()]), name: Type.String() })

export const Channel = Type.Union([Type.Literal('sms'), Type.Literal('whatsapp')])

export const NullableString = Type.Union([Type.String(), Type.Null()])
