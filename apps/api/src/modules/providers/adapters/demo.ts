import { setTimeout as sleep } from 'node:timers/promises';
import { frameOf, toOpenAiUsage } from '../frames.ts';
import type { Adapter, AttemptInput, ChatChunk, EmbeddingInput, Frame } from '../providers.types.ts';
import { aggregate } from './aggregate.ts';

function lastUserText(input: AttemptInput): string {
  for (let i = input.body.messages.length - 1; i >= 0; i--) {
    const m = input.body.messages[i];
    if (m?.role !== 'user') continue;
    if (typeof m.content === 'string') return m.content;
    if (Array.isArray(m.content)) {
      return m.content.map((p) => (p.type === 'text' && typeof p.text === 'string' ? p.text : '')).join(' ');
    }
  }
  return '';
}

/** The demo reply: deterministic for a given prompt, and plainly not a model's answer. */
export function demoReply(prompt: string): string {
  const said = prompt.trim().replace(/\s+/g, ' ');
  const quoted = said.length > 160 ? `${said.slice(0, 157)}...` : said;
  return (
    `[demo] This is GenZ AI's built-in demo model: no AI provider is configured, so this reply is canned. ` +
    `You said: "${quoted}". To talk to a real model, set OPENAI_API_KEY, ANTHROPIC_API_KEY, ` +
    `GOOGLE_GENERATIVE_AI_API_KEY or OLLAMA_BASE_URL (or add providers to genz.yaml) and restart.`
  );
}

const approxTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

/** The offline `demo` provider: streams the canned reply word by word, so the two-command start works with no keys. */
export function createDemoAdapter(chunkDelayMs: number): Adapter {
  async function* stream(input: AttemptInput): AsyncIterable<Frame> {
    const id = `chatcmpl-demo-${crypto.randomUUID().slice(0, 8)}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (delta: ChatChunk['choices'][number]['delta'], finish: string | null = null): Frame =>
      frameOf({
        id,
        object: 'chat.completion.chunk',
        created,
        model: 'genz-demo',
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
    const prompt = lastUserText(input);
    const reply = demoReply(prompt);
    yield chunk({ role: 'assistant', content: '' });
    const words = reply.split(/(?<= )/);
    for (const word of words) {
      if (chunkDelayMs > 0) await sleep(chunkDelayMs, undefined, { signal: input.signal });
      yield chunk({ content: word });
    }
    yield chunk({}, 'stop');
    const usage = { inputTokens: approxTokens(JSON.stringify(input.body.messages)), outputTokens: approxTokens(reply) };
    yield frameOf({
      id,
      object: 'chat.completion.chunk',
      created,
      model: 'genz-demo',
      choices: [],
      usage: toOpenAiUsage(usage),
    });
  }
  return {
    stream,
    complete: (input) => aggregate(stream({ ...input }), 'genz-demo'),
    async embed(input: EmbeddingInput) {
      const raw = input.body.input;
      const texts = Array.isArray(raw) ? raw.map(String) : [String(raw ?? '')];
      const data = texts.map((text, index) => ({ object: 'embedding', index, embedding: pseudoEmbedding(text) }));
      const tokens = texts.reduce((n, t) => n + approxTokens(t), 0);
      const body = { object: 'list', data, model: 'genz-demo', usage: { prompt_tokens: tokens, total_tokens: tokens } };
      return { body: JSON.stringify(body), usage: { inputTokens: tokens, outputTokens: 0 } };
    },
  };
}

/** A deterministic unit vector from the text's bytes (useless semantically, stable for tests and demos). */
function pseudoEmbedding(text: string, dims = 16): number[] {
  const v = new Array<number>(dims).fill(0);
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i++) {
    const idx = i % dims;
    v[idx] = (v[idx] ?? 0) + (((bytes[i] ?? 0) * 2654435761) % 1000) / 1000 - 0.5;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => Number((x / norm).toFixed(6)));
}
