import Fastify from 'fastify'
import pg from 'pg'

/**
 * The Fastify of the fastifyPgSelect baseline (a process of its own, started by
 * bench/baselines/fastifyPgSelect.ts): each request runs one SELECT of 20 rows through the
 * (owner, occurred_at) index of bench_activity, with a pool of DATABASE_POOL_SIZE connections
 * (the service's default size), and answers them as JSON.
 */
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.DATABASE_POOL_SIZE ?? 10) })
const owners = Number(process.env.BENCH_OWNERS ?? 100)
const app = Fastify({ logger: false })
app.get<{ Querystring: { owner?: string } }>('/recent', async (request) => {
  const owner = request.query.owner === undefined ? Math.floor(Math.random() * owners) : Number(request.query.owner)
  const { rows } = await pool.query({
    name: 'recent-activity',
    text: 'select id, owner, kind, subject, occurred_at from bench_activity where owner = $1 order by occurred_at desc limit 20',
    values: [owner],
  })
  return { success: true, data: rows }
})

const address = await app.listen({ host: '127.0.0.1', port: 0 })
process.send?.({ kind: 'listening', port: Number(new URL(address).port) })
process.once('SIGTERM', () => {
  void app.close().then(async () => {
    await pool.end()
    process.exit(0)
  })
})
