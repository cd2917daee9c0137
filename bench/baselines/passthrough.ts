import Fastify from 'fastify';
import { Pool } from 'undici';

/**
 * The router's floor: a bare Fastify + undici passthrough of `POST /v1/chat/completions` to the fake upstream
 * (issue 4 cites one), with none of GenZ's work: no API key, limits, routing, usage, metrics or logging. The body is
 * forwarded as the client's bytes and the upstream's answer relayed (a stream as it arrives), over a keep-alive pool.
 * UPSTREAM_URL (origin), UPSTREAM_KEY, PORT.
 */
const upstream = process.env.UPSTREAM_URL;
if (!upstream) throw new Error('UPSTREAM_URL is required');
// Connections uncapped, as GenZ's own dispatcher (apps/api/src/modules/providers/adapters/openai-wire.ts).
const pool = new Pool(upstream, { connections: null });
const headers = { 'content-type': 'application/json', authorization: `Bearer ${process.env.UPSTREAM_KEY ?? ''}` };

const app = Fastify({ logger: false });
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => done(null, body));
app.post('/v1/chat/completions', async (request, reply) => {
  const res = await pool.request({
    method: 'POST',
    path: '/v1/chat/completions',
    headers,
    body: request.body as string,
  });
  const type = String(res.headers['content-type'] ?? 'application/json');
  reply.code(res.statusCode).type(type);
  // A stream is relayed as it arrives; a completion is read whole, the cheaper of the two.
  return reply.send(type.startsWith('text/event-stream') ? res.body : await res.body.text());
});
app.get('/healthz', async () => 'ok');

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const stop = () => void Promise.all([app.close(), pool.close()]).then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
