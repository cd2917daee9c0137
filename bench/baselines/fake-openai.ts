import { startFakeUpstream } from '../../apps/api/src/modules/providers/testing/index.ts';

/**
 * The fake OpenAI upstream of the router bench, in a process of its own: the tests' fake (recorded OpenAI wire
 * format), a 20-event stream (`openai-text-20.chunks.txt`: 16 content tokens, finish, usage, [DONE]), no request log.
 * PORT; CHUNK_DELAY_MS before every event (0: as fast as it can write).
 */
const fake = await startFakeUpstream({
  port: Number(process.env.PORT ?? 0),
  chunkDelayMs: Number(process.env.CHUNK_DELAY_MS ?? 0),
  record: false,
  textFixture: 'openai-text-20.chunks.txt',
});
const stop = () => void fake.close().then(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
