import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildRegistry } from '../modules/providers/providers.registry.ts';
import { applyMutations, fuzzParams, type Json, mutations } from '../test/fuzz.ts';
import { ConfigError, loadConfig } from './index.ts';

/**
 * A bad genz.yaml stops the boot with a ConfigError naming what is wrong, never with another exception (a stack
 * trace from deep in the server). Each run breaks a valid file at random places (test/fuzz.ts) and loads it the way
 * the server does: the file validated against the schema, then the provider registry built from it.
 */

const genzYaml: Json = {
  server: { port: 8080, trustProxy: 'loopback' },
  providers: {
    demo: 'off',
    deployments: [
      {
        id: 'gpt',
        provider: 'openai',
        model: 'gpt-4o-mini',
        apiKey: 'sk-test',
        weight: 2,
        inputPricePerMTok: 0.15,
        outputPricePerMTok: 0.6,
        contextWindow: 128000,
        capabilities: { tools: true, vision: true },
      },
      { id: 'claude', provider: 'anthropic', model: 'claude-sonnet-4-5', apiKey: 'sk-ant-test' },
      { id: 'local', provider: 'openai-compatible', model: 'llama3', baseUrl: 'http://127.0.0.1:11434/v1' },
    ],
    aliases: {
      smart: { deployments: ['gpt', 'claude'], strategy: 'fallback' },
      cheap: { deployments: ['local', 'gpt'], strategy: 'lowest-cost' },
    },
    routing: { maxAttempts: 3, ttftTimeoutMs: 10000 },
  },
  plans: { free: { models: ['cheap'] }, pro: { models: ['*'] } },
  limits: {
    defaults: { requests: { rate: 60, periodMs: 60000, burst: 20 }, tokensPerDay: 100000 },
    plans: { pro: { tokensPerDay: 1000000 } },
  },
};

describe('genz.yaml', () => {
  it('loads when valid: the runs below break a file that works', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'genz-config-fuzz-'));
    writeFileSync(join(cwd, 'genz.yaml'), JSON.stringify(genzYaml));
    const config = loadConfig({ env: {}, cwd });
    expect([...buildRegistry(config.providers).aliases.keys()]).toEqual(expect.arrayContaining(['cheap', 'smart']));
  });

  it('broken at random places, stops with a ConfigError and nothing else', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'genz-config-fuzz-'));
    fc.assert(
      fc.property(mutations(genzYaml), (changes) => {
        // JSON is YAML: the file goes through the same parser as a hand-written one.
        writeFileSync(join(cwd, 'genz.yaml'), JSON.stringify(applyMutations(genzYaml, changes) ?? null));
        try {
          buildRegistry(loadConfig({ env: {}, cwd }).providers);
        } catch (err) {
          if (!(err instanceof ConfigError)) throw err;
          expect(err.problems.length).toBeGreaterThan(0);
        }
      }),
      fuzzParams(300),
    );
  });
});
