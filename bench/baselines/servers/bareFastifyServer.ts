import Fastify from 'fastify'

/**
 * The bare Fastify of the bareFastify baseline (a process of its own, started by
 * bench/baselines/bareFastify.ts): one route answering a constant JSON, no logger, no plugins.
 * It tells its parent its port over IPC and closes on SIGTERM.
 */
const app = Fastify({ logger: false })
const answer = { success: true, data: { status: 'ok', items: [1, 2, 3] } }
app.get('/constant', async () => answer)

const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.send?.({ kind: 'listening', port: Number(new URL(address).port) })
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0))
})
