import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { describe, expect, it } from 'vitest';
import { ScrubbingSpanProcessor, tracesUrl } from './tracing-sdk.ts';

const here = new URL('.', import.meta.url).pathname;

describe('tracing', () => {
  it('loads no SDK, exporter or loader hook when OTEL_EXPORTER_OTLP_ENDPOINT is unset', () => {
    // A fresh Node process records every module specifier resolved while config loads and startTracing runs.
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(specifier, context, next) { seen.push(specifier); return next(specifier, context); } });
      const { loadConfig } = await import(${JSON.stringify(join(here, '../config/index.ts'))});
      const { startTracing } = await import(${JSON.stringify(join(here, 'tracing.ts'))});
      const tracing = await startTracing(loadConfig({ env: {}, cwd: ${JSON.stringify(mkdtempSync(join(tmpdir(), 'genz-tr-')))} }));
      console.log(JSON.stringify({ tracing, seen }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const { tracing, seen } = JSON.parse(out) as { tracing: unknown; seen: string[] };
    expect(tracing).toBeNull();
    expect(seen).toContain('@opentelemetry/api');
    const heavy = seen.filter((s) =>
      /tracing-sdk|@opentelemetry\/(sdk-|exporter-|instrumentation)|import-in-the-middle|@fastify\/otel/.test(s),
    );
    expect(heavy).toEqual([]);
  });

  it('appends the traces signal path to the OTLP base endpoint', () => {
    expect(tracesUrl('http://collector:4318')).toBe('http://collector:4318/v1/traces');
    expect(tracesUrl('https://otlp.example.com/otlp/')).toBe('https://otlp.example.com/otlp/v1/traces');
  });

  it('strips query strings (one-time tokens, keys) from every URL attribute before export', () => {
    const attributes: Record<string, string> = {
      'url.full': 'https://generativelanguage.googleapis.com/v1/models?key=AIza-secret',
      'url.path': '/api/auth/verify?token=one-time',
      'url.query': 'token=one-time',
      'http.target': '/api/auth/verify?token=one-time',
      'http.route': '/api/auth/verify',
    };
    new ScrubbingSpanProcessor().onEnd({ attributes } as unknown as ReadableSpan);
    expect(attributes).toEqual({
      'url.full': 'https://generativelanguage.googleapis.com/v1/models',
      'url.path': '/api/auth/verify',
      'http.target': '/api/auth/verify',
      'http.route': '/api/auth/verify',
    });
    expect(JSON.stringify(attributes)).not.toMatch(/secret|one-time/);
  });
});
