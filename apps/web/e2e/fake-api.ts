/**
 * A stand-in for the API at the network edge, speaking the ARCHITECTURE §12 contract (routes, problem+json, SSE
 * events with `id: <seq>`, resume with Last-Event-ID), for browser tests of pages whose API module is not merged
 * yet (chats). Generations run on a timer independent of any connection, as the real ones do, so a reload
 * mid-reply resumes the same generation. Swap for the real API (PGlite) as its routes land.
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

interface Gen {
  id: string;
  userId: string;
  events: { id: number; event: string; data: unknown }[];
  listeners: Set<http.ServerResponse>;
  done: boolean;
  stopped: boolean;
  assistantId: string;
}

interface Msg {
  id: string;
  conversationId: string;
  parentId: string | null;
  role: 'user' | 'assistant';
  content: { type: string; text?: string; url?: string; title?: string }[];
  status: string;
  generationId: string | null;
  model: string | null;
  createdAt: string;
}

export interface FakeApi {
  url: string;
  /** Text the demo model answers with, by prompt substring; default is a short markdown answer. */
  replies: Map<string, string>;
  /** Milliseconds between deltas. */
  deltaMs: number;
  close(): Promise<void>;
}

const problem = (res: http.ServerResponse, status: number, code: string, detail: string) => {
  res.writeHead(status, { 'content-type': 'application/problem+json' });
  res.end(JSON.stringify({ type: `/problems/${code}`, title: code, status, detail, code, requestId: randomUUID() }));
};

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(body === undefined ? '' : JSON.stringify(body));
};

async function body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

const DEFAULT_REPLY =
  'Here is a **streamed** answer with code:\n\n```ts\nconst answer: number = 42;\n```\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\nAnd math: $e^{i\\pi} + 1 = 0$.';

export async function startFakeApi(): Promise<FakeApi> {
  const users = new Map<string, { id: string; email: string; password: string; role: 'user' | 'admin' }>();
  const sessions = new Map<string, string>(); // token -> user id
  const conversations = new Map<string, Record<string, unknown> & { userId: string; id: string }>();
  const messages: Msg[] = [];
  const generations = new Map<string, Gen>();
  const keys: Record<string, unknown>[] = [];
  let clock = Date.parse('2025-01-01T00:00:00Z');
  const now = () => {
    clock += 1000;
    return new Date(clock).toISOString();
  };

  const state: FakeApi = { url: '', replies: new Map(), deltaMs: 60, close: async () => {} };

  const userOf = (req: http.IncomingMessage) => {
    const cookie = req.headers.cookie ?? '';
    const token = /(?:^|;\s*)gz_at=([^;]+)/.exec(cookie)?.[1];
    const id = token ? sessions.get(token) : undefined;
    return id ? [...users.values()].find((u) => u.id === id) : undefined;
  };

  const publicUser = (u: { id: string; email: string; role: string }) => ({
    id: u.id,
    email: u.email,
    role: u.role,
    plan: 'free',
    status: 'active',
    emailVerified: false,
    createdAt: '2025-01-01T00:00:00.000Z',
    lastActiveAt: null,
  });

  function emit(gen: Gen, event: string, data: unknown) {
    const entry = { id: gen.events.length + 1, event, data };
    gen.events.push(entry);
    for (const res of gen.listeners) res.write(`id: ${entry.id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (event === 'done' || event === 'error') {
      gen.done = true;
      for (const res of gen.listeners) res.end();
      gen.listeners.clear();
    }
  }

  function startGeneration(userId: string, conversationId: string, userMsg: Msg | null, parentId: string) {
    const prompt = userMsg?.content[0]?.text ?? '';
    let reply = DEFAULT_REPLY;
    for (const [needle, text] of state.replies) if (prompt.includes(needle)) reply = text;
    const assistant: Msg = {
      id: randomUUID(),
      conversationId,
      parentId,
      role: 'assistant',
      content: [],
      status: 'streaming',
      generationId: null,
      model: 'demo',
      createdAt: now(),
    };
    const gen: Gen = {
      id: randomUUID(),
      userId,
      events: [],
      listeners: new Set(),
      done: false,
      stopped: false,
      assistantId: assistant.id,
    };
    assistant.generationId = gen.id;
    messages.push(assistant);
    generations.set(gen.id, gen);
    emit(gen, 'message', {
      userMessageId: userMsg?.id ?? null,
      assistantMessageId: assistant.id,
      generationId: gen.id,
      conversationId,
    });
    const pieces = reply.match(/[\s\S]{1,6}/g) ?? [];
    let text = '';
    let i = 0;
    const tick = () => {
      if (gen.stopped || i >= pieces.length) {
        assistant.content = [{ type: 'text', text }];
        assistant.status = gen.stopped ? 'stopped' : 'complete';
        const conversation = conversations.get(conversationId);
        if (conversation && !conversation.title) conversation.title = prompt.slice(0, 40) || 'Chat';
        if (conversation) conversation.updatedAt = now();
        emit(gen, 'done', { status: assistant.status, usage: { outputTokens: pieces.length } });
        return;
      }
      const piece = pieces[i++] ?? '';
      text += piece;
      assistant.content = [{ type: 'text', text }];
      emit(gen, 'delta', { text: piece });
      setTimeout(tick, state.deltaMs);
    };
    setTimeout(tick, state.deltaMs);
    return gen;
  }

  function stream(res: http.ServerResponse, gen: Gen, after: number) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform' });
    for (const e of gen.events) {
      if (e.id > after) res.write(`id: ${e.id}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
    }
    if (gen.done) res.end();
    else {
      gen.listeners.add(res);
      res.on('close', () => gen.listeners.delete(res));
    }
  }

  const publicConversation = (c: Record<string, unknown>) => {
    const { userId: _u, ...rest } = c;
    return rest;
  };

  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://x');
      const path = url.pathname;
      const method = req.method ?? 'GET';
      // auth
      if (path === '/api/auth/signup' && method === 'POST') {
        const b = await body(req);
        const email = String(b.email).toLowerCase();
        if (String(b.password).length < 10) {
          return problem(res, 400, 'weak_password', 'password must be at least 10 characters');
        }
        if (![...users.values()].some((u) => u.email === email)) {
          users.set(email, {
            id: randomUUID(),
            email,
            password: String(b.password),
            role: users.size === 0 ? 'admin' : 'user',
          });
        }
        return json(res, 202, { status: 'accepted', message: 'Check your email.' });
      }
      if (path === '/api/auth/login' && method === 'POST') {
        const b = await body(req);
        const user = users.get(String(b.email).toLowerCase());
        if (!user || user.password !== b.password) {
          return problem(res, 401, 'invalid_credentials', 'Email or password is incorrect.');
        }
        const token = randomUUID();
        sessions.set(token, user.id);
        res.setHeader('set-cookie', [`gz_at=${token}; Path=/; HttpOnly; SameSite=Lax`]);
        return json(res, 200, { user: publicUser(user) });
      }
      if (path === '/api/auth/refresh') return problem(res, 401, 'unauthenticated', 'No session.');
      if (path === '/api/auth/logout') {
        res.setHeader('set-cookie', ['gz_at=; Path=/; Max-Age=0']);
        return json(res, 204, undefined);
      }
      const user = userOf(req);
      if (!user) return problem(res, 401, 'unauthenticated', 'Sign in.');
      if (path === '/api/me') return json(res, 200, { ...publicUser(user), scopes: ['chat'], via: 'session' });
      if (path === '/api/models') {
        return json(res, 200, {
          items: [
            { id: 'demo', name: 'Demo (offline)', provider: 'demo', health: 'healthy' },
            { id: 'gpt-down', name: 'GPT (down)', provider: 'openai', health: 'down' },
          ],
          nextCursor: null,
        });
      }
      if (path === '/api/presets') return json(res, 200, { items: [], nextCursor: null });
      if (path === '/api/me/sessions') {
        return json(res, 200, {
          items: [
            {
              id: 's1',
              createdAt: '2025-01-01T00:00:00.000Z',
              lastUsedAt: '2025-01-01T00:00:00.000Z',
              expiresAt: '2026-01-01T00:00:00.000Z',
              userAgent: 'Chromium',
              ip: '127.0.0.1',
              current: true,
            },
          ],
          nextCursor: null,
        });
      }
      if (path === '/api/me/api-keys' && method === 'GET') {
        return json(res, 200, { items: keys, nextCursor: null });
      }
      if (path === '/api/me/api-keys' && method === 'POST') {
        const b = await body(req);
        const key = {
          id: randomUUID(),
          name: b.name,
          prefix: 'gz_abcd',
          scopes: b.scopes,
          createdAt: now(),
          expiresAt: null,
          lastUsedAt: null,
        };
        keys.push(key);
        return json(res, 201, { ...key, key: `gz_abcd_${randomUUID().replaceAll('-', '')}` });
      }
      const keyMatch = /^\/api\/me\/api-keys\/([^/]+)$/.exec(path);
      if (keyMatch && method === 'DELETE') {
        const index = keys.findIndex((k) => k.id === keyMatch[1]);
        if (index === -1) return problem(res, 404, 'not_found', 'API key not found');
        keys.splice(index, 1);
        return json(res, 204, undefined);
      }
      if (path === '/api/me/usage') {
        return json(res, 200, { period: 'month', requests: 3, tokens: 120, limits: { tokens: 100000 } });
      }
      if (path === '/api/admin/users') {
        if (user.role !== 'admin') return problem(res, 403, 'forbidden', 'This needs an administrator.');
        return json(res, 200, { items: [...users.values()].map(publicUser), nextCursor: null });
      }
      // chats
      if (path === '/api/conversations' && method === 'GET') {
        const archived = url.searchParams.get('archived') === 'true';
        const items = [...conversations.values()]
          .filter((c) => c.userId === user.id && !c.deletedAt && Boolean(c.archivedAt) === archived)
          .sort((a, b) => String(b.updatedAt).localeCompare(String(a.updatedAt)))
          .map(publicConversation);
        return json(res, 200, { items, nextCursor: null });
      }
      if (path === '/api/conversations' && method === 'POST') {
        const b = await body(req);
        const c = {
          id: randomUUID(),
          userId: user.id,
          title: (b.title as string) ?? null,
          pinned: false,
          archivedAt: null,
          settings: b.settings ?? {},
          activeLeafId: null,
          createdAt: now(),
          updatedAt: now(),
        };
        conversations.set(c.id, c);
        return json(res, 201, publicConversation(c));
      }
      const conv = /^\/api\/conversations\/([^/]+)(\/messages)?$/.exec(path);
      if (conv) {
        const c = conversations.get(conv[1] ?? '');
        if (!c || c.userId !== user.id || c.deletedAt) return problem(res, 404, 'not_found', 'Conversation not found');
        if (conv[2] && method === 'GET') {
          return json(res, 200, {
            items: messages.filter((m) => m.conversationId === c.id),
            nextCursor: null,
          });
        }
        if (conv[2] && method === 'POST') {
          const b = await body(req);
          const content = String(b.content ?? '');
          if (!content.trim()) return problem(res, 400, 'validation_failed', 'content must not be empty');
          const userMsg: Msg = {
            id: randomUUID(),
            conversationId: c.id,
            parentId: (b.parentId as string) ?? null,
            role: 'user',
            content: [{ type: 'text', text: content }],
            status: 'complete',
            generationId: null,
            model: null,
            createdAt: now(),
          };
          messages.push(userMsg);
          const gen = startGeneration(user.id, c.id, userMsg, userMsg.id);
          return stream(res, gen, 0);
        }
        if (method === 'GET') return json(res, 200, publicConversation(c));
        if (method === 'PATCH') {
          const b = await body(req);
          if (typeof b.title === 'string') c.title = b.title;
          if (typeof b.pinned === 'boolean') c.pinned = b.pinned;
          if (typeof b.archived === 'boolean') c.archivedAt = b.archived ? now() : null;
          if (b.settings) c.settings = b.settings;
          c.updatedAt = now();
          return json(res, 200, publicConversation(c));
        }
        if (method === 'DELETE') {
          c.deletedAt = now();
          return json(res, 204, undefined);
        }
      }
      const regen = /^\/api\/messages\/([^/]+)\/regenerate$/.exec(path);
      if (regen && method === 'POST') {
        const m = messages.find((x) => x.id === regen[1]);
        const c = m ? conversations.get(m.conversationId) : undefined;
        if (!m || !c || c.userId !== user.id || !m.parentId) return problem(res, 404, 'not_found', 'Message not found');
        const parent = messages.find((x) => x.id === m.parentId) ?? null;
        return stream(res, startGeneration(user.id, c.id, null, parent?.id ?? ''), 0);
      }
      const gen = /^\/api\/generations\/([^/]+)\/(events|stop)$/.exec(path);
      if (gen) {
        const g = generations.get(gen[1] ?? '');
        if (!g || g.userId !== user.id) return problem(res, 404, 'not_found', 'Generation not found');
        if (gen[2] === 'stop') {
          g.stopped = true;
          return json(res, 202, { status: 'stopping' });
        }
        return stream(res, g, Number(req.headers['last-event-id'] ?? 0));
      }
      if (path === '/api/search') {
        const q = (url.searchParams.get('q') ?? '').toLowerCase();
        const items = messages
          .filter((m) => conversations.get(m.conversationId)?.userId === user.id)
          .filter((m) => (m.content[0]?.text ?? '').toLowerCase().includes(q))
          .map((m) => {
            const text = m.content[0]?.text ?? '';
            const at = text.toLowerCase().indexOf(q);
            return {
              conversationId: m.conversationId,
              messageId: m.id,
              title: conversations.get(m.conversationId)?.title ?? null,
              snippet: `${text.slice(Math.max(0, at - 20), at)}<mark>${text.slice(at, at + q.length)}</mark>${text.slice(at + q.length, at + q.length + 30)}`,
            };
          });
        return json(res, 200, { items, nextCursor: null });
      }
      return problem(res, 404, 'route_not_found', `No route ${method} ${path}`);
    } catch (error) {
      problem(res, 500, 'internal', String(error));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  };
  return state;
}
