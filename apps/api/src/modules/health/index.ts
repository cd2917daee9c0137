import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from 'typebox';

declare module 'fastify' {
  interface FastifyInstance {
    /** Set by server.ts on SIGTERM: readiness answers 503 so load balancers stop routing here. */
    draining: boolean;
  }
}

const Check = Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) });

async function withTimeout(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      work,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `/livez`: the process is alive. `/readyz`: it should get traffic (not draining, DB and configured Redis answer). */
export default fp(
  async (app: FastifyInstance) => {
    app.decorate('draining', false);
    const schema = { tags: ['health'], response: { 200: Check, 503: Check } };

    app.get('/livez', { config: { infra: true }, schema }, async () => ({ status: 'ok', checks: {} }));

    app.get('/readyz', { config: { infra: true }, schema }, async (_request, reply) => {
      const checks: Record<string, string> = {};
      checks.draining = app.draining ? 'draining' : 'ok';
      if (!app.dbReady()) checks.database = 'starting';
      else
        await withTimeout(app.db.ping(), 1000).then(
          () => {
            checks.database = 'ok';
          },
          (err: Error) => {
            checks.database = `down: ${err.message}`;
          },
        );
      if (app.redis) {
        await withTimeout(app.redis.ping(), 1000).then(
          () => {
            checks.redis = 'ok';
          },
          (err: Error) => {
            checks.redis = `down: ${err.message}`;
          },
        );
      }
      const ok = Object.values(checks).every((c) => c === 'ok');
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', checks });
    });
  },
  { name: 'health', dependencies: ['db', 'redis'] },
);
