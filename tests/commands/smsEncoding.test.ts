import t from 'tap'
import { billableParts, smsParts } from '../../commands/messages/smsEncoding.ts'

t.test('GSM-7 texts: 160 in one part, 153 per part beyond', async (t) => {
  t.same(smsParts('a'.repeat(160)), { encoding: 'GSM-7', units: 160, parts: 1 })
  t.same(smsParts('a'.repeat(161)), { encoding: 'GSM-7', units: 161, parts: 2 })
  t.same(smsParts('a'.repeat(306)), { encoding: 'GSM-7', units: 306, parts: 2 })
  t.same(smsParts('a'.repeat(307)), { encoding: 'GSM-7', units: 307, parts: 3 })
  t.same(smsParts('Karibu! Bei ni 5,000/= tu @ duka letu.'), { encoding: 'GSM-7', units: 38, parts: 1 })
})

t.test('extension characters take two septets', async (t) => {
  t.same(smsParts('€'.repeat(80)), { encoding: 'GSM-7', units: 160, parts: 1 })
  t.same(smsParts(`${'€'.repeat(80)}a`), { encoding: 'GSM-7', units: 161, parts: 2 })
  t.equal(smsParts('{[|]}').units, 10)
})

t.test('anything outside GSM-7 makes the text UCS-2: 70 in one part, 67 per part', async (t) => {
  t.same(smsParts('Habari ✓'), { encoding: 'UCS-2', units: 8, parts: 1 })
  t.same(smsParts(`${'a'.repeat(69)}’`), { encoding: 'UCS-2', units: 70, parts: 1 })
  t.same(smsParts(`${'a'.repeat(70)}’`), { encoding: 'UCS-2', units: 71, parts: 2 })
  t.same(smsParts('😀'.repeat(67)), { encoding: 'UCS-2', units: 134, parts: 2 })
  t.same(smsParts('😀'.repeat(68)), { encoding: 'UCS-2', units: 136, parts: 3 })
})

t.test('billable parts per channel', async (t) => {
  t.equal(billableParts('sms', 'a'.repeat(200)), 2)
  t.equal(billableParts('sms', ''), 1, 'an empty message still costs a part')
  t.equal(billableParts('whatsapp', 'a'.repeat(2000)), 1)
})
