import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, envBindings, loadConfig } from './index.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'genz-config-'));

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('uses embedded defaults when nothing is set', () => {
    const cwd = tmp();
    const config = loadConfig({ env: {}, cwd });
    expect(config.server.port).toBe(8080);
    expect(config.database.url).toBeUndefined();
    expect(config.redis.url).toBeUndefined();
    expect(config.dataDir).toBe(join(cwd, 'data'));
    expect(Object.isFrozen(config.server)).toBe(true);
  });

  it('layers defaults < genz.yaml < environment, converting types', () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'genz.yaml'), 'server:\n  port: 9000\n  bodyLimitBytes: 2048\nlog:\n  level: warn\n');
    const config = loadConfig({
      env: { PORT: '9100', DATABASE_REPLICA_URLS: 'postgres://a/x, postgres://b/x', GENZ_CONFIG_READONLY: 'true' },
      cwd,
    });
    expect(config.server.port).toBe(9100);
    expect(config.server.bodyLimitBytes).toBe(2048);
    expect(config.log.level).toBe('warn');
    expect(config.database.replicaUrls).toEqual(['postgres://a/x', 'postgres://b/x']);
    expect(config.configReadonly).toBe(true);
  });

  it('names the environment variable behind a bad value', () => {
    expect(problemsOf(() => loadConfig({ env: { PORT: 'eighty' }, cwd: tmp() }))).toEqual([
      'PORT: server.port must be integer',
    ]);
    expect(problemsOf(() => loadConfig({ env: { LOG_LEVEL: 'loud' }, cwd: tmp() }))[0]).toMatch(
      /^LOG_LEVEL: log.level must be one of: fatal, error/,
    );
    expect(problemsOf(() => loadConfig({ env: { GENZ_CONFIG_READONLY: 'maybe' }, cwd: tmp() }))[0]).toMatch(
      /^GENZ_CONFIG_READONLY: configReadonly/,
    );
  });

  it('names the file and key of a bad or unknown genz.yaml entry, reporting every problem at once', () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'custom.yaml'), 'server:\n  prot: 1\n  port: -5\ncache:\n  l1MaxBytes: lots\n');
    const problems = problemsOf(() => loadConfig({ env: { GENZ_CONFIG: 'custom.yaml' }, cwd }));
    expect(problems).toContain('custom.yaml: unknown key server.prot');
    expect(problems).toContain('custom.yaml: server.port must be >= 0');
    expect(problems.some((p) => p.startsWith('custom.yaml: cache.l1MaxBytes'))).toBe(true);
  });

  it('refuses a map key its pattern does not allow (alias, plan), whatever its value', () => {
    const cwd = tmp();
    writeFileSync(
      join(cwd, 'genz.yaml'),
      "providers:\n  aliases:\n    '-bad': false\nplans:\n  Free: {}\nlimits:\n  plans:\n    'no spaces': {}\n",
    );
    const problems = problemsOf(() => loadConfig({ env: {}, cwd }));
    expect(problems).toContain('genz.yaml: unknown key providers.aliases.-bad');
    expect(problems).toContain('genz.yaml: unknown key plans.Free');
    expect(problems).toContain('genz.yaml: unknown key limits.plans.no spaces');
  });

  it('finds a file invalid however many unknown keys come before its other errors', () => {
    const cwd = tmp();
    const aliases = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`-${i}`, null]));
    writeFileSync(join(cwd, 'genz.yaml'), JSON.stringify({ providers: { aliases, routing: { ttftTimeoutMs: [] } } }));
    const problems = problemsOf(() => loadConfig({ env: {}, cwd }));
    expect(problems).toContain('genz.yaml: unknown key providers.aliases.-0');
  });

  it('reports a YAML syntax error with the file name', () => {
    const cwd = tmp();
    writeFileSync(join(cwd, 'genz.yaml'), 'server: [unclosed\n');
    expect(problemsOf(() => loadConfig({ env: {}, cwd }))[0]).toMatch(/^genz.yaml: /);
  });

  it('rejects cross-field contradictions', () => {
    const problems = problemsOf(() =>
      loadConfig({ env: { REDIS_URL: 'redis://x', REDIS_CLUSTER_NODES: 'a:1,b:2' }, cwd: tmp() }),
    );
    expect(problems).toEqual(['REDIS_URL and REDIS_CLUSTER_NODES are mutually exclusive']);
  });

  it('binds every documented environment variable to exactly one key', () => {
    const names = envBindings().map((b) => b.env);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(expect.arrayContaining(['PORT', 'DATABASE_URL', 'REDIS_URL', 'DATA_DIR', 'METRICS_PORT']));
  });
});
