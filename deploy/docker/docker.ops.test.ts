/**
 * deploy/docker: no Docker engine here, so the Dockerfiles are parsed and checked statically:
 * multi-stage on node:22, every COPY source exists in the repo (and is not dropped by the .dockerignore) or comes
 * from a named earlier stage that copied or declared (`# produces:`) it, the CMD target resolves to a file that
 * exists or to a declared build product, non-root USER, HEALTHCHECK on /livez.
 */
import { existsSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deployPath, repoPath } from '../test/tools.ts';

interface Instr {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  name: string;
  from: string;
  instrs: Instr[];
  /** container path -> origin: repo:<path> | stage:<name>:<path> | product:<path> */
  files: Map<string, string>;
  workdir: string;
}

export function parseDockerfile(text: string): Instr[] {
  const out: Instr[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i] ?? '';
    const start = i + 1;
    if (/^\s*#\s*produces:/.test(l)) {
      out.push({ op: 'PRODUCES', args: l.split('produces:')[1]?.trim() ?? '', line: start });
      continue;
    }
    if (/^\s*(#|$)/.test(l)) continue;
    while (l.endsWith('\\') && i + 1 < lines.length) l = `${l.slice(0, -1)} ${(lines[++i] ?? '').trim()}`;
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(l);
    if (!m?.[1]) throw new Error(`line ${start}: cannot parse "${l}"`);
    out.push({ op: m[1].toUpperCase(), args: (m[2] ?? '').trim(), line: start });
  }
  return out;
}

function stages(instrs: Instr[]): Stage[] {
  const out: Stage[] = [];
  for (const ins of instrs) {
    if (ins.op === 'FROM') {
      const [from = '', , name] = ins.args.split(/\s+/);
      out.push({ name: name ?? String(out.length), from, instrs: [], files: new Map(), workdir: '/' });
    } else out.at(-1)?.instrs.push(ins);
  }
  return out;
}

function dockerignore(file: string): RegExp[] {
  const path = `${file}.dockerignore`;
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map(
      (p) =>
        new RegExp(
          `^${p
            .replace(/\./g, '\\.')
            .replace(/\*\*\//g, '(.*/)?')
            .replace(/\*/g, '[^/]*')}(/.*)?$`,
        ),
    );
}

/** Where a container path in a stage came from, following COPY chains; undefined = nobody put it there. */
function origin(stage: Stage, path: string, all: Stage[]): string | undefined {
  let best: [string, string] | undefined;
  for (const [dest, src] of stage.files)
    if ((path === dest || path.startsWith(`${dest}/`)) && (!best || dest.length > best[0].length)) best = [dest, src];
  if (!best) return undefined;
  const [dest, src] = best;
  const rest = path.slice(dest.length);
  if (src.startsWith('stage:')) {
    const [, name, p] = src.split(':');
    const from = all.find((s) => s.name === name);
    return from ? origin(from, `${p}${rest}`, all) : undefined;
  }
  return `${src}${rest}`;
}

function analyse(file: string) {
  const text = readFileSync(file, 'utf8');
  const all = stages(parseDockerfile(text));
  const ignore = dockerignore(file);
  const problems: string[] = [];
  for (const [i, st] of all.entries()) {
    for (const ins of st.instrs) {
      if (ins.op === 'WORKDIR') st.workdir = posix.resolve(st.workdir, ins.args);
      if (ins.op === 'PRODUCES') st.files.set(ins.args, `product:${ins.args}`);
      if (ins.op !== 'COPY') continue;
      const parts = ins.args.split(/\s+/);
      const flags = parts.filter((p) => p.startsWith('--'));
      const paths = parts.filter((p) => !p.startsWith('--'));
      const dest = paths.pop() ?? '';
      const fromStage = flags.find((f) => f.startsWith('--from='))?.slice(7);
      for (const src of paths) {
        const destPath =
          dest.endsWith('/') && paths.length > 0 && !src.endsWith('/') && fromStage === undefined
            ? posix.resolve(st.workdir, dest, posix.basename(src))
            : posix.resolve(st.workdir, dest);
        if (fromStage) {
          const fromIdx = all.findIndex((s) => s.name === fromStage);
          if (fromIdx < 0 || fromIdx >= i) {
            problems.push(`line ${ins.line}: COPY --from=${fromStage}: no earlier stage of that name`);
            continue;
          }
          const fromSt = all[fromIdx] as Stage;
          if (!origin(fromSt, src, all))
            problems.push(`line ${ins.line}: ${src} is neither copied into nor produced by stage ${fromStage}`);
          st.files.set(destPath, `stage:${fromStage}:${src}`);
        } else {
          if (!existsSync(repoPath(src)))
            problems.push(`line ${ins.line}: COPY source ${src} does not exist in the repository`);
          if (ignore.some((r) => r.test(src)))
            problems.push(`line ${ins.line}: COPY source ${src} is excluded by the .dockerignore`);
          st.files.set(destPath, `repo:${src.replace(/\/$/, '')}`);
        }
      }
    }
  }
  const final = all.at(-1) as Stage;
  const cmdIns = final.instrs.findLast((x) => x.op === 'CMD');
  const cmd = cmdIns ? (JSON.parse(cmdIns.args) as string[]) : [];
  return { all, final, cmd, problems, text };
}

describe.each([
  ['api', 'api.Dockerfile', 8080],
  ['web', 'web.Dockerfile', 3000],
])('%s image', (_name, file, port) => {
  const path = deployPath('docker', file);
  const a = analyse(path);

  it('is multi-stage on node:22, with a non-root runtime user', () => {
    expect(a.all.length).toBeGreaterThanOrEqual(2);
    for (const s of a.all) expect(s.from, `stage ${s.name}`).toMatch(/^node:22(-|$)/);
    const user = a.final.instrs.findLast((x) => x.op === 'USER')?.args;
    expect(user, 'final stage USER').toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('every COPY source exists in the repo or comes from a named earlier stage', () => {
    expect(a.problems).toEqual([]);
  });

  it('the CMD target exists in the build output', () => {
    expect(a.cmd[0]).toBe('node');
    const scripts = a.cmd.slice(1).filter((x) => !x.startsWith('-') && /\.(m?[jt]s|cjs)$/.test(x));
    expect(scripts.length).toBeGreaterThan(0);
    for (const s of scripts) {
      const where = origin(a.final, posix.resolve(a.final.workdir, s), a.all);
      expect(where, `${s}: nothing in the image provides it`).toBeDefined();
      if (where?.startsWith('repo:')) expect(existsSync(repoPath(where.slice(5))), `${where}`).toBe(true);
      else if (where?.startsWith('product:')) {
        // A declared build product: the only one is the Next standalone tree; check the web build really makes it.
        expect(where).toMatch(/^product:\/app\/apps\/web\/\.next\/standalone\//);
        const rel = where.replace('product:/app/apps/web/.next/standalone/', '');
        const standalone = readFileSync(repoPath('apps/web/scripts/standalone.mjs'), 'utf8');
        expect(readFileSync(repoPath('apps/web/next.config.ts'), 'utf8')).toMatch(/output:\s*'standalone'/);
        if (rel === 'apps/web/server.js')
          expect(standalone).toMatch(/serverEntry = path\.join\(serverDir, 'server\.js'\)/);
        else if (rel === 'apps/web/forwarded-for.cjs') {
          expect(standalone).toMatch(/preload = path\.join\(serverDir, 'forwarded-for\.cjs'\)/);
          expect(existsSync(repoPath('apps/web/scripts/forwarded-for.cjs'))).toBe(true);
        } else throw new Error(`unknown build product ${rel}`);
        expect(standalone).toMatch(/serverDir = path\.join\(standaloneDir, 'apps', 'web'\)/);
      } else throw new Error(`unexpected origin ${where}`);
    }
    // a --require preload must exist too
    const req = a.cmd.indexOf('--require');
    if (req > 0) expect(origin(a.final, posix.resolve(a.final.workdir, a.cmd[req + 1] ?? ''), a.all)).toBeDefined();
  });

  it(`has a HEALTHCHECK on /livez and exposes ${port}`, () => {
    const hc = a.final.instrs.find((x) => x.op === 'HEALTHCHECK')?.args ?? '';
    expect(hc).toContain('/livez');
    expect(a.final.instrs.find((x) => x.op === 'EXPOSE')?.args.split(/\s+/)).toContain(String(port));
  });
});

describe('backup image', () => {
  const a = analyse(deployPath('docker', 'backup.Dockerfile'));

  it('is the PostgreSQL 15 image (the client programs backup.sh needs, of the server major version) as non-root', () => {
    expect(a.final.from).toMatch(/^postgres:15-/);
    const user = a.final.instrs.findLast((x) => x.op === 'USER')?.args;
    expect(user).toBe('postgres');
    // The postgres image's entrypoint would start a database server; this image only runs the scripts.
    expect(a.final.instrs.findLast((x) => x.op === 'ENTRYPOINT')?.args).toBe('[]');
  });

  it('copies backup.sh and restore.sh from deploy/backup, and the CMD runs one of them', () => {
    expect(a.problems).toEqual([]);
    for (const script of ['backup.sh', 'restore.sh'])
      expect(origin(a.final, `/usr/local/bin/${script}`, a.all)).toBe(`repo:deploy/backup/${script}`);
    const where = origin(a.final, a.cmd[0] ?? '', a.all);
    expect(where).toBe('repo:deploy/backup/backup.sh');
  });
});

describe('the Dockerfile check is real', () => {
  it('flags a missing COPY source, an unknown stage and an ignored path', () => {
    const fixture = deployPath('test', 'fixtures', 'bad.Dockerfile');
    const a = analyse(fixture);
    expect(a.problems.join('\n')).toMatch(/apps\/api\/src\/no-such-file\.ts does not exist/);
    expect(a.problems.join('\n')).toMatch(/--from=builder: no earlier stage/);
    expect(a.problems.join('\n')).toMatch(/node_modules is excluded by the \.dockerignore/);
  });
});
