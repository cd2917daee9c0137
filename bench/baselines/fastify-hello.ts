import Fastify from 'fastify';

/**
 * The baseline: the smallest useful Fastify server (no logger, no plugins, one JSON route). Every figure for the real
 * server is reported as a ratio to this one, measured in the same run on the same machine.
 */
const app = Fastify({ logger: false });
app.get('/', async () => ({ hello: 'world' }));

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
const stop = () => void app.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
