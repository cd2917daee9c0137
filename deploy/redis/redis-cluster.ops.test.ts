/**
 * deploy/redis/redis-cluster.conf: a 3-master Redis Cluster on free loopback ports, every node started with the file
 * (only port, cluster bus port and directory given on the command line), created with `redis-cli --cluster create`;
 * cluster_state must be ok, keys must spread over the masters, and every setting must read back with CONFIG GET.
 * Stopped with SHUTDOWN NOSAVE per node (and SIGTERM to the processes this test started, if one is left).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { deployPath, freePort, requireTool, run, tempDir, waitForPort } from '../test/tools.ts';

const conf = deployPath('redis', 'redis-cluster.conf');
const started: ChildProcess[] = [];
const dirs: string[] = [];
afterAll(async () => {
  for (const p of started) {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** `directive value` lines of a redis config file (comments and blanks dropped). */
function settings(path: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const [k, ...v] = t.split(/\s+/);
    out.set((k as string).toLowerCase(), v.join(' '));
  }
  return out;
}

describe('Redis Cluster with deploy/redis/redis-cluster.conf', () => {
  it('keeps the settings it shares with the compose redis.conf in step (seed: allkeys-lru, timeouts, no persistence)', () => {
    const cluster = settings(conf);
    const compose = settings(deployPath('compose', 'redis', 'redis.conf'));
    for (const k of ['maxmemory-policy', 'timeout', 'tcp-keepalive', 'save', 'appendonly']) {
      expect([k, cluster.get(k)]).toEqual([k, compose.get(k)]);
    }
    expect(cluster.get('maxmemory')).toBe('8gb'); // the seed's per-node figure (compose uses 256mb for a laptop)
    expect(cluster.get('cluster-enabled')).toBe('yes');
  });

  it('forms a 3-master cluster on loopback with the file, with every setting in force, then stops', async () => {
    const server = requireTool('redis-server');
    const cli = requireTool('redis-cli');
    const nodes: { port: number; bus: number }[] = [];
    for (let i = 0; i < 3; i++) nodes.push({ port: await freePort(), bus: await freePort() });
    for (const n of nodes) {
      const dir = tempDir(`redis-cluster-${n.port}`);
      dirs.push(dir);
      const p = spawn(
        server,
        [conf, '--port', String(n.port), '--cluster-port', String(n.bus), '--bind', '127.0.0.1', '--dir', dir],
        { stdio: 'pipe' },
      );
      let log = '';
      p.stdout?.on('data', (d) => (log += d));
      p.once('exit', (code) => {
        if (code !== 0 && code !== null) console.error(`redis-server :${n.port} exited ${code}\n${log}`);
      });
      started.push(p);
    }
    await Promise.all(nodes.map((n) => waitForPort(n.port)));
    const redis = (port: number, ...args: string[]) => run(cli, ['-h', '127.0.0.1', '-p', String(port), ...args]);

    const create = run(
      cli,
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeoutMs: 30_000 },
    );
    expect(create.code, create.output).toBe(0);
    const first = nodes[0] as { port: number };
    let info = '';
    for (let i = 0; i < 100; i++) {
      info = redis(first.port, 'CLUSTER', 'INFO').stdout;
      if (info.includes('cluster_state:ok')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(info).toContain('cluster_state:ok');
    expect(info).toMatch(/cluster_slots_assigned:16384/);
    expect(info).toMatch(/cluster_known_nodes:3/);
    expect(info).toMatch(/cluster_size:3/);

    for (const n of nodes) {
      const get = (k: string) => redis(n.port, 'CONFIG', 'GET', k).stdout.split('\n')[1]?.trim();
      expect(get('cluster-enabled')).toBe('yes');
      expect(get('maxmemory-policy')).toBe('allkeys-lru');
      expect(get('maxmemory')).toBe(String(8 * 1024 ** 3));
      expect(get('maxmemory-samples')).toBe('10');
      expect(get('cluster-node-timeout')).toBe('5000');
      expect(get('cluster-require-full-coverage')).toBe('no');
      expect(get('timeout')).toBe('0');
      expect(get('tcp-keepalive')).toBe('60');
      expect(get('appendonly')).toBe('no');
      expect(get('save')).toBe('');
    }

    // Keys spread over the masters; a hash tag keeps one user's keys in one slot, so multi-key commands work.
    const owners = new Set<number>();
    for (const key of ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']) {
      const set = run(cli, ['-c', '-h', '127.0.0.1', '-p', String(first.port), 'SET', key, `v-${key}`]);
      expect(set.stdout.trim()).toBe('OK');
      for (const n of nodes) {
        if (redis(n.port, 'EXISTS', key).stdout.trim() === '1') owners.add(n.port);
      }
    }
    expect(owners.size).toBeGreaterThan(1);
    const tagged = run(cli, ['-c', '-h', '127.0.0.1', '-p', String(first.port), 'MSET', '{t1}:x', '1', '{t1}:y', '2']);
    expect(tagged.stdout.trim()).toBe('OK');
    const crossSlot = run(cli, ['-c', '-h', '127.0.0.1', '-p', String(first.port), 'MSET', 'a', '1', 'b', '2']);
    expect(crossSlot.output).toMatch(/CROSSSLOT/);

    for (const n of nodes) redis(n.port, 'SHUTDOWN', 'NOSAVE');
    await Promise.all(started.map((p) => (p.exitCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    expect(started.every((p) => p.exitCode === 0)).toBe(true);
  });
});
