import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { breakingChanges, formatViolations, lintMigrations, splitStatements } from './migration-lint.ts';
import { migrationsFolder } from './migrations.ts';

const fixtures = fileURLToPath(new URL('../scripts/migration-lint-fixtures/', import.meta.url));
const lintScript = fileURLToPath(new URL('./migration-lint.ts', import.meta.url));

const kinds = (sql: string) => splitStatements(sql).flatMap((s) => breakingChanges(s.code));

const made: string[] = [];
afterAll(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A migrations folder with these files, in this journal order. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'genz-mlint-'));
  made.push(dir);
  mkdirSync(join(dir, 'meta'));
  const tags = Object.keys(files);
  writeFileSync(
    join(dir, 'meta', '_journal.json'),
    JSON.stringify({ version: '7', dialect: 'postgresql', entries: tags.map((tag, idx) => ({ idx, tag, when: idx })) }),
  );
  for (const [tag, sql] of Object.entries(files)) writeFileSync(join(dir, `${tag}.sql`), sql);
  return dir;
}

describe('migration lint (expand/contract)', () => {
  it('passes on the committed migrations (npm test fails when one breaks the previous release)', () => {
    const violations = lintMigrations(migrationsFolder);
    expect(violations, formatViolations(violations)).toEqual([]);
  });

  it('refuses a bare DROP COLUMN (fixture), naming file, line and the fix', () => {
    const violations = lintMigrations(join(fixtures, 'bare-drop-column'));
    expect(violations).toHaveLength(1);
    expect(violations[0]).toMatchObject({ file: '0001_drop-legacy.sql', line: 2 });
    expect(violations[0]?.message).toMatch(/^DROP COLUMN breaks .* genz:contract-step since=/);
    // The command-line entry exits 1 with the same report.
    const r = spawnSync(process.execPath, [lintScript, join(fixtures, 'bare-drop-column')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('0001_drop-legacy.sql:2: DROP COLUMN');
  });

  it('accepts contract steps marked with an older expand migration (fixture)', () => {
    expect(lintMigrations(join(fixtures, 'marked-contract'))).toEqual([]);
    const r = spawnSync(process.execPath, [lintScript, join(fixtures, 'marked-contract')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
  });

  it('refuses a marker whose expand step is unknown, the same migration or newer, or missing since=', () => {
    const base = 'CREATE TABLE t (id int PRIMARY KEY, a text);';
    const dir = folder({
      '0000_init': base,
      '0001_self': '-- genz:contract-step since=0001_self\nALTER TABLE t DROP COLUMN a;',
      '0002_unknown': '-- genz:contract-step since=0042_nope\nDROP TABLE t;',
      '0003_nosince': '-- genz:contract-step\nALTER TABLE t RENAME TO u;',
      '0004_future': '-- genz:contract-step since=0005\nALTER TABLE u ALTER COLUMN id TYPE bigint;',
      '0005_later': 'ALTER TABLE u ADD COLUMN b text;',
      '0006_pointless': '-- genz:contract-step since=0000\nALTER TABLE u ADD COLUMN c text;',
    });
    const messages = lintMigrations(dir).map((v) => `${v.file}: ${v.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^0001_self.sql: .*must be an older migration/),
      expect.stringMatching(/^0002_unknown.sql: .*no such migration/),
      expect.stringMatching(/^0003_nosince.sql: .*needs since=/),
      expect.stringMatching(/^0004_future.sql: .*must be an older migration/),
      expect.stringMatching(/^0006_pointless.sql: .*breaks nothing/),
    ]);
  });

  it('recognises each breaking change, in any spelling', () => {
    expect(kinds('ALTER TABLE "users" DROP COLUMN "legacy";')).toEqual(['DROP COLUMN']);
    expect(kinds('alter table only public.users drop legacy cascade;')).toEqual(['DROP COLUMN']);
    expect(kinds('ALTER TABLE IF EXISTS users DROP COLUMN IF EXISTS x;')).toEqual(['DROP COLUMN']);
    expect(kinds('DROP TABLE "sessions";')).toEqual(['DROP TABLE']);
    expect(kinds('drop   table\n  if exists sessions;')).toEqual(['DROP TABLE']);
    expect(kinds('DROP VIEW v; DROP MATERIALIZED VIEW m; DROP FUNCTION f(int); DROP TYPE e;')).toEqual([
      'DROP VIEW',
      'DROP VIEW',
      'DROP FUNCTION',
      'DROP TYPE',
    ]);
    expect(kinds('ALTER TABLE users RENAME TO people;')).toEqual(['RENAME']);
    expect(kinds('ALTER TABLE users RENAME COLUMN email TO mail;')).toEqual(['RENAME']);
    expect(kinds('ALTER INDEX users_email_key RENAME TO users_mail_key;')).toEqual(['RENAME']);
    expect(kinds("ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';")).toEqual(['RENAME']);
    expect(kinds('ALTER TABLE users ALTER COLUMN plan TYPE varchar(20);')).toEqual(['ALTER COLUMN TYPE']);
    expect(kinds('ALTER TABLE users ALTER plan SET DATA TYPE text USING plan::text;')).toEqual(['ALTER COLUMN TYPE']);
    expect(kinds('ALTER TABLE "users" ALTER COLUMN "plan" SET NOT NULL;')).toEqual(['SET NOT NULL']);
    expect(kinds('ALTER TABLE users ADD COLUMN tier text NOT NULL;')).toEqual(['ADD COLUMN NOT NULL WITHOUT DEFAULT']);
    expect(kinds('ALTER TABLE users ADD COLUMN a int, DROP COLUMN b;')).toEqual(['DROP COLUMN']);
    // A DO block runs now: its statements count.
    expect(kinds('DO $$ BEGIN IF true THEN ALTER TABLE users DROP COLUMN x; END IF; END $$;')).toEqual(['DROP COLUMN']);
    expect(kinds('DO LANGUAGE plpgsql $body$ BEGIN DROP TABLE t; END $body$;')).toEqual(['DROP TABLE']);
  });

  it('lets expand steps and look-alikes through', () => {
    expect(kinds('ALTER TABLE users ADD COLUMN tier text;')).toEqual([]);
    expect(kinds("ALTER TABLE users ADD COLUMN tier text DEFAULT 'free' NOT NULL;")).toEqual([]);
    expect(
      kinds('ALTER TABLE t ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector(a)) STORED NOT NULL;'),
    ).toEqual([]);
    expect(kinds('ALTER TABLE users ADD CONSTRAINT c CHECK (a IS NOT NULL);')).toEqual([]);
    expect(kinds('ALTER TABLE users DROP CONSTRAINT users_plan_check;')).toEqual([]);
    expect(kinds('ALTER TABLE users ALTER COLUMN plan DROP NOT NULL;')).toEqual([]);
    expect(kinds('ALTER TABLE users ALTER COLUMN plan SET DEFAULT 1;')).toEqual([]);
    expect(kinds('CREATE TABLE t (id int NOT NULL, note text);')).toEqual([]);
    expect(kinds('DROP INDEX CONCURRENTLY users_status_idx;')).toEqual([]);
    // Strings, quoted identifiers and comments are not code.
    expect(kinds("INSERT INTO notes VALUES ('ALTER TABLE x DROP COLUMN y');")).toEqual([]);
    expect(kinds('CREATE TABLE "drop table x" (id int);')).toEqual([]);
    expect(kinds('-- DROP TABLE users;\nSELECT 1;')).toEqual([]);
    expect(kinds("SELECT E'it\\'s; DROP TABLE t';")).toEqual([]);
    // A function body is code that runs later (the partition helper drops expired partitions at run time).
    expect(kinds('CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $fn$ BEGIN DROP TABLE old; END; $fn$;')).toEqual(
      [],
    );
  });

  it('splits on semicolons outside strings, identifiers, comments and dollar quotes, keeping line numbers', () => {
    const st = splitStatements('-- header\nSELECT \';\';\n\n/* a; /* nested; */ b */ SELECT $x$;$x$;\nSELECT "a;b";');
    expect(st.map((s) => [s.line, s.code])).toEqual([
      [2, "SELECT ''"],
      [4, 'SELECT $$'],
      [5, 'SELECT "_"'],
    ]);
  });
});
