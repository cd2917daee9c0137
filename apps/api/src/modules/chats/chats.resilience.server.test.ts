import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDb, type TestDb, testRedisPrefix, testRedisUrl } from '@genz/db/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiProcess, startApiProcess, withSetupApp } from '../../test/process.ts';
import { createTestUser, type TestUser } from '../../test/users.ts';
import { demoReply } from '../providers/adapters/demo.ts';
import { type ParsedEvent, parseSse } from './chats.testing.ts';

/**
 * Two real API processes (server.ts) on one PostgreSQL database and one Redis key prefix: a generation started
 * on one is resumed on the other after random cuts, and survives its worker's process being killed.
 */
const AUTH_SECRETS = 'res:genz-resilience-signing-secret-0123456789';
const timings = { heartbeatMs: 200, staleAfterMs: 1500, reaperIntervalMs: 250, followerCheckMs: 300 };
const ITERATIONS = Number(process.env.GENZ_CHAOS_ITERATIONS ?? 100);

type Proc = ApiProcess;

let db: TestDb;
let user: TestUser;
const procs: Proc[] = [];

async function startProcess(env: Record<string, string>): Promise<Proc> {
  const proc = await startApiProcess(env);
  procs.push(proc);
  return proc;
}

interface SseResult {
  status: number;
  generationId: string;
  text: string;
  cut: boolean;
}

/**
 * One SSE request over a real socket. With `cutAfter`, the client drops the connection once it has that many
 * body bytes (anywhere: inside an event, inside a line) and keeps only those bytes.
 */
function sse(
  port: number,
  method: 'GET' | 'POST',
  path: string,
  opts: { body?: unknown; headers?: Record<string, string>; cutAfter?: number; onData?: (text: string) => void },
): Promise<SseResult> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method,
        agent: false,
        headers: {
          ...user.headers,
          ...(payload
            ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }
            : {}),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let cut = false;
        const finish = () =>
          resolve({
            status: res.statusCode ?? 0,
            generationId: String(res.headers['x-generation-id'] ?? ''),
            text: Buffer.concat(chunks).toString('utf8'),
            cut,
          });
        res.on('data', (c: Buffer) => {
          if (cut) return;
          if (opts.cutAfter !== undefined && size + c.length >= opts.cutAfter) {
            chunks.push(c.subarray(0, opts.cutAfter - size));
            size = opts.cutAfter;
            cut = true;
            req.destroy();
            finish();
            return;
          }
          chunks.push(c);
          size += c.length;
          opts.onData?.(Buffer.concat(chunks).toString('utf8'));
        });
        res.on('end', finish);
        res.on('error', () => finish());
        res.on('close', finish);
      },
    );
    req.on('error', (err) => {
      if (!req.destroyed) reject(err);
    });
    if (payload) req.write(payload);
    req.end();
  });
}

beforeAll(async () => {
  db = await createTestDb();
  if (!db.url) throw new Error('the resilience suite needs the server backend (PostgreSQL + Redis)');
  const keyPrefix = testRedisPrefix();
  const dataDir = mkdtempSync(join(tmpdir(), 'genz-chats-res-'));
  const yaml = join(dataDir, 'genz.yaml');
  writeFileSync(
    yaml,
    [
      'providers:',
      '  demoChunkDelayMs: 15',
      'chats:',
      ...Object.entries(timings).map(([k, v]) => `  ${k}: ${v}`),
      // One user sends thousands of requests here: the per-user and per-IP limits (modules/rate-limit) are off.
      'limits:',
      '  ipRequests: null',
      '  defaults:',
      ...['requests', 'tokens', 'tokensPerDay', 'tokensPerMonth', 'costPerMonthUsd', 'concurrentGenerations'].map(
        (k) => `    ${k}: null`,
      ),
      '',
    ].join('\n'),
  );
  // Users and sessions are made in-process on the same database; both processes accept the token (shared keys).
  user = await withSetupApp({ db, authSecrets: AUTH_SECRETS, redisUrl: testRedisUrl, keyPrefix }, (app) =>
    createTestUser(app),
  );

  const env = {
    DATABASE_URL: db.url,
    REDIS_URL: testRedisUrl,
    REDIS_KEY_PREFIX: keyPrefix,
    AUTH_SECRETS,
    DATA_DIR: dataDir,
    GENZ_CONFIG: yaml,
    LOG_LEVEL: 'warn',
    NODE_ENV: 'test',
    SHUTDOWN_DRAIN_DELAY_MS: '0',
  };
  await Promise.all([startProcess(env), startProcess(env)]);
}, 90_000);

afterAll(async () => {
  for (const p of procs) p.child.kill('SIGKILL');
  await db?.dispose();
});

async function newConversation(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const body = '{}';
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/conversations',
        method: 'POST',
        agent: false,
        headers: { ...user.headers, 'content-type': 'application/json', 'content-length': '2' },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => {
          text += c;
        });
        res.on('end', () => resolve((JSON.parse(text) as { id: string }).id));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const textOf = (events: ParsedEvent[]) =>
  events
    .filter((e) => e.event === 'delta')
    .map((e) => (JSON.parse(e.data) as { text: string }).text)
    .join('');

describe('generations across two API processes', () => {
  it(`${ITERATIONS} randomized disconnects, resumed alternately on both processes, end byte-identical`, async () => {
    const [a, b] = procs;
    if (!a || !b) throw new Error('processes not started');
    let seed = 20261127;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const lanes = 5;
    let cuts = 0;
    let midEventCuts = 0;
    const runOne = async (i: number) => {
      const first = i % 2 === 0 ? a : b;
      const conversationId = await newConversation(first.port);
      const prompt = `iteration ${i} of the chaos test`;
      const events: ParsedEvent[] = [];
      let res = await sse(first.port, 'POST', `/api/conversations/${conversationId}/messages`, {
        body: { content: prompt },
        cutAfter: 1 + Math.floor(random() * 900),
      });
      expect(res.status).toBe(200);
      const gid = res.generationId;
      let hop = 1;
      for (;;) {
        const got = parseSse(res.text);
        if (res.cut) {
          cuts++;
          if (!res.text.endsWith('\n\n')) midEventCuts++;
        }
        for (const e of got) {
          // Exactly once: every event continues the sequence.
          expect(Number(e.id)).toBe(events.length + 1);
          events.push(e);
        }
        const last = events.at(-1);
        if (last && (last.event === 'done' || last.event === 'error')) break;
        expect(hop).toBeLessThan(50);
        const target = hop % 2 === 1 ? (first === a ? b : a) : first; // alternate replicas
        hop++;
        res = await sse(target.port, 'GET', `/api/generations/${gid}/events`, {
          headers: { 'last-event-id': String(events.length) },
          ...(random() < 0.85 ? { cutAfter: 1 + Math.floor(random() * 700) } : {}),
        });
        expect(res.status).toBe(200);
      }
      // The uninterrupted run of the same generation, read whole from the other process.
      const whole = await sse(first === a ? b.port : a.port, 'GET', `/api/generations/${gid}/events`, {});
      expect(events).toEqual(parseSse(whole.text));
      expect(textOf(events)).toBe(demoReply(prompt));
      expect(JSON.parse(events.at(-1)?.data ?? '{}')).toMatchObject({ status: 'complete' });
    };
    for (let i = 0; i < ITERATIONS; i += lanes) {
      await Promise.all(Array.from({ length: Math.min(lanes, ITERATIONS - i) }, (_, k) => runOne(i + k)));
    }
    expect(cuts).toBeGreaterThanOrEqual(ITERATIONS);
    expect(midEventCuts).toBeGreaterThan(0);
  }, 600_000);

  it('killing the process that runs a generation: the client resumes on the other and ends interrupted, no duplicate token', async () => {
    const [a, b] = procs;
    if (!a || !b) throw new Error('processes not started');
    const conversationId = await newConversation(a.port);
    const prompt = 'a reply that will not finish because its process dies';
    let killed = false;
    const first = await sse(a.port, 'POST', `/api/conversations/${conversationId}/messages`, {
      body: { content: prompt },
      onData: (text) => {
        if (!killed && parseSse(text).filter((e) => e.event === 'delta').length >= 8) {
          killed = true;
          a.child.kill('SIGKILL');
        }
      },
    });
    expect(killed).toBe(true);
    const received = parseSse(first.text);
    const lastId = received.length;
    const t0 = Date.now();
    const rest = await sse(b.port, 'GET', `/api/generations/${first.generationId}/events`, {
      headers: { 'last-event-id': String(lastId) },
    });
    const elapsed = Date.now() - t0;
    const events = [...received, ...parseSse(rest.text)];
    expect(events.map((e) => Number(e.id))).toEqual(events.map((_, i) => i + 1));
    const done = events.at(-1);
    expect(done?.event).toBe('done');
    const final = JSON.parse(done?.data ?? '{}') as { status: string; messageId: string };
    expect(final.status).toBe('interrupted');
    const text = textOf(events);
    expect(text.length).toBeGreaterThan(0);
    expect(demoReply(prompt).startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(demoReply(prompt).length);
    // Ends within the configured bounds (stale heartbeat + reaper period + follower check), with a margin.
    expect(elapsed).toBeLessThan(timings.staleAfterMs + timings.reaperIntervalMs + timings.followerCheckMs + 3000);
    // The persisted message holds exactly the text the client ended with.
    const page = await new Promise<string>((resolve, reject) => {
      request(
        {
          host: '127.0.0.1',
          port: b.port,
          path: `/api/conversations/${conversationId}/messages`,
          agent: false,
          headers: user.headers,
        },
        (res) => {
          let body = '';
          res.on('data', (c) => {
            body += c;
          });
          res.on('end', () => resolve(body));
        },
      )
        .on('error', reject)
        .end();
    });
    const items = (JSON.parse(page) as { items: { id: string; status: string; content: unknown }[] }).items;
    const reply = items.find((m) => m.id === final.messageId);
    expect(reply?.status).toBe('interrupted');
    expect(reply?.content).toEqual([{ type: 'text', text }]);
  }, 60_000);
});
