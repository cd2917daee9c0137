/**
 * Expand/contract check for the committed migrations (docs/operations.md, "Upgrades").
 *
 * During a rolling update or a canary the previous release's pods run against the new schema, so a migration may only
 * *expand* it (add tables, nullable columns, columns with a default, indexes). A change that breaks the old code —
 * dropping or renaming a table or column, changing a column's type, making it NOT NULL, adding a NOT NULL column
 * without a default (old pods' INSERTs omit it) — is the *contract* step, and ships in a later release than the expand
 * step that made the code stop needing the old shape. It must say so on the line(s) before the statement:
 *
 *   -- genz:contract-step since=0007_messages-add-body
 *   ALTER TABLE messages DROP COLUMN content_old;
 *
 * where `since` names (by tag, or its numeric prefix) the older migration that did the expand step. This check
 * refuses any breaking statement without such a marker, a marker whose `since` is unknown or not older, and a marker
 * on a statement that breaks nothing (so markers stay meaningful).
 *
 * What it reads: every migration in meta/_journal.json order, split into statements outside strings, quoted
 * identifiers, comments and dollar-quoted bodies. Function bodies (CREATE FUNCTION … AS $$…$$) are code run later,
 * not schema changes now, and are not scanned; DO blocks run now and are. SQL built at run time inside strings
 * (EXECUTE format('DROP …')) cannot be seen: review it.
 *
 * Run: `node packages/db/src/migration-lint.ts [migrations-dir]` (exit 1 on a violation); migration-lint.test.ts
 * runs it on the real folder in `npm test`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrationsFolder } from './migrations.ts';

export type BreakingKind =
  | 'DROP TABLE'
  | 'DROP VIEW'
  | 'DROP FUNCTION'
  | 'DROP TYPE'
  | 'DROP SCHEMA'
  | 'DROP SEQUENCE'
  | 'DROP COLUMN'
  | 'RENAME'
  | 'ALTER COLUMN TYPE'
  | 'SET NOT NULL'
  | 'ADD COLUMN NOT NULL WITHOUT DEFAULT';

export interface Violation {
  file: string;
  line: number;
  statement: string;
  message: string;
}

export interface Statement {
  /** 1-based line of the statement's first token. */
  line: number;
  /** The statement as written (trimmed), for messages. */
  text: string;
  /**
   * Upper-cased, whitespace-collapsed, with comments removed, string literals as '', quoted identifiers as "_" and
   * dollar-quoted bodies as $$ (except the body of a DO block, which is kept as code).
   */
  code: string;
  /** Comments between the previous statement and this one's end. */
  comments: string[];
}

interface Lexed {
  code: string;
  comments: string[];
}

/** Masks a fragment of SQL (a DO body, or a whole statement). */
function lex(sql: string): Lexed {
  let code = '';
  const comments: string[] = [];
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      comments.push(sql.slice(i + 2, stop).trim());
      code += ' ';
      i = stop;
    } else if (c === '/' && next === '*') {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      let j = i + 2;
      while (j < sql.length && depth > 0) {
        if (sql.startsWith('/*', j)) {
          depth++;
          j += 2;
        } else if (sql.startsWith('*/', j)) {
          depth--;
          j += 2;
        } else j++;
      }
      comments.push(sql.slice(i + 2, j - 2).trim());
      code += ' ';
      i = j;
    } else if (c === "'") {
      // E'…' strings treat backslash as an escape; standard strings only ''.
      const escaped = /[eE]$/.test(sql.slice(Math.max(0, i - 1), i)) && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? ' ');
      let j = i + 1;
      while (j < sql.length) {
        if (escaped && sql[j] === '\\') j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      code += "''";
      i = j + 1;
    } else if (c === '"') {
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '"' && sql[j + 1] === '"') j += 2;
        else if (sql[j] === '"') break;
        else j++;
      }
      code += '"_"';
      i = j + 1;
    } else if (c === '$' && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? ' ')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag === null) {
        code += c; // $1 parameter
        i++;
        continue;
      }
      const end = sql.indexOf(tag[0], i + tag[0].length);
      const stop = end === -1 ? sql.length : end;
      const body = sql.slice(i + tag[0].length, stop);
      // A DO block executes now: its body is part of this migration's effect.
      if (/\bDO\s*(LANGUAGE\s+\w+\s*)?$/i.test(code)) {
        const inner = lex(body);
        code += ` ${inner.code} `;
        comments.push(...inner.comments);
      } else code += '$$';
      i = stop + tag[0].length;
    } else {
      code += c;
      i++;
    }
  }
  return { code, comments };
}

/** Splits a migration file into statements at `;` outside strings, identifiers, comments and dollar quotes. */
export function splitStatements(sql: string): Statement[] {
  const out: Statement[] = [];
  let start = 0;
  let i = 0;
  const push = (end: number) => {
    const raw = sql.slice(start, end);
    const lexed = lex(raw);
    const code = lexed.code.replace(/\s+/g, ' ').trim().toUpperCase();
    if (code !== '') {
      // First line that is neither blank nor a comment-only line.
      let line = sql.slice(0, start).split('\n').length;
      for (const l of raw.split('\n')) {
        const t = l.trim();
        if (t !== '' && !t.startsWith('--')) break;
        line++;
      }
      out.push({ line, text: raw.replace(/^(\s*--[^\n]*\n|\s*\n)*/, '').trim(), code, comments: lexed.comments });
    }
    start = end + 1;
  };
  while (i < sql.length) {
    const c = sql[i] as string;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      i += 2;
      while (i < sql.length && depth > 0) {
        if (sql.startsWith('/*', i)) {
          depth++;
          i += 2;
        } else if (sql.startsWith('*/', i)) {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === "'" || c === '"') {
      const escaped = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? ' ');
      i++;
      while (i < sql.length) {
        if (escaped && sql[i] === '\\') i += 2;
        else if (sql[i] === c && sql[i + 1] === c) i += 2;
        else if (sql[i] === c) break;
        else i++;
      }
      i++;
    } else if (c === '$' && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? ' ')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i));
      if (tag === null) i++;
      else {
        const end = sql.indexOf(tag[0], i + tag[0].length);
        i = end === -1 ? sql.length : end + tag[0].length;
      }
    } else if (c === ';') {
      push(i);
      i++;
    } else i++;
  }
  push(sql.length);
  return out;
}

/** Splits an ALTER TABLE action list at top-level commas. */
function actions(list: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of list) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim() !== '') parts.push(cur.trim());
  return parts;
}

const IDENT = `(?:"_"|[A-Z_][A-Z0-9_$]*)`;
const QUALIFIED = String.raw`${IDENT}(?:\.${IDENT})?`;

/** What a (masked, upper-cased) statement does that breaks the previous release's code; [] if nothing. */
export function breakingChanges(code: string): BreakingKind[] {
  const found = new Set<BreakingKind>();
  // A DO block's body (kept as code by lex) holds statements inside BEGIN … END, IF … THEN: look at each ALTER or
  // DROP in it. A plain statement is looked at from its start only.
  const candidates = code.startsWith('DO ')
    ? code
        .split(';')
        .flatMap((part) => [...part.matchAll(/\b(?:ALTER|DROP)\b/g)].map((m) => part.slice(m.index).trim()))
    : [code];
  for (const s of candidates) {
    const drop = /^DROP (TABLE|VIEW|MATERIALIZED VIEW|FUNCTION|PROCEDURE|TYPE|DOMAIN|SCHEMA|SEQUENCE)\b/.exec(s);
    if (drop) {
      const what = drop[1] as string;
      found.add(
        what === 'MATERIALIZED VIEW'
          ? 'DROP VIEW'
          : what === 'PROCEDURE'
            ? 'DROP FUNCTION'
            : what === 'DOMAIN'
              ? 'DROP TYPE'
              : (`DROP ${what}` as BreakingKind),
      );
      continue;
    }
    const alter = new RegExp(String.raw`^ALTER TABLE (?:IF EXISTS )?(?:ONLY )?${QUALIFIED}\*? (.*)$`).exec(s);
    if (alter) {
      for (const a of actions(alter[1] as string)) {
        if (/^RENAME\b/.test(a)) found.add('RENAME');
        else if (/^DROP (?!CONSTRAINT\b)/.test(a)) found.add('DROP COLUMN');
        else if (new RegExp(String.raw`^ALTER (?:COLUMN )?${IDENT} (?:SET DATA )?TYPE\b`).test(a))
          found.add('ALTER COLUMN TYPE');
        else if (new RegExp(String.raw`^ALTER (?:COLUMN )?${IDENT} SET NOT NULL\b`).test(a)) found.add('SET NOT NULL');
        else if (
          /^ADD (?!CONSTRAINT\b|PRIMARY\b|UNIQUE\b|CHECK\b|FOREIGN\b|EXCLUDE\b)/.test(a) &&
          /\bNOT NULL\b/.test(a) &&
          !/\bDEFAULT\b|\bGENERATED\b/.test(a)
        )
          found.add('ADD COLUMN NOT NULL WITHOUT DEFAULT');
      }
      continue;
    }
    if (/^ALTER \w+(?: \w+)? .*\bRENAME\b/.test(s)) found.add('RENAME');
  }
  return [...found];
}

interface JournalEntry {
  idx: number;
  tag: string;
}

export function readJournal(dir: string): JournalEntry[] {
  const path = join(dir, 'meta', '_journal.json');
  if (!existsSync(path)) throw new Error(`no migration journal at ${path}`);
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { entries: JournalEntry[] };
  return [...parsed.entries].sort((a, b) => a.idx - b.idx);
}

const MARKER = /genz:contract-step\b(.*)$/;

/** Lints every migration of the journal in `dir`. */
export function lintMigrations(dir: string = migrationsFolder): Violation[] {
  const journal = readJournal(dir);
  const violations: Violation[] = [];
  journal.forEach((entry, position) => {
    const file = `${entry.tag}.sql`;
    const sql = readFileSync(join(dir, file), 'utf8');
    for (const st of splitStatements(sql)) {
      const kinds = breakingChanges(st.code);
      const markers = st.comments.map((c) => MARKER.exec(c)).filter((m): m is RegExpExecArray => m !== null);
      const excerpt = st.text.replace(/\s+/g, ' ').slice(0, 120);
      const v = (message: string) => violations.push({ file, line: st.line, statement: excerpt, message });
      if (markers.length === 0) {
        if (kinds.length > 0)
          v(
            `${kinds.join(', ')} breaks the previous release's pods during a rolling update: do it as the contract ` +
              'step of a later release than the expand step, marked `-- genz:contract-step since=<expand migration tag>`',
          );
        continue;
      }
      const marker = markers[0] as RegExpExecArray;
      if (kinds.length === 0) {
        v('genz:contract-step marks a statement that breaks nothing; remove the marker');
        continue;
      }
      const since = /\bsince=(\S+)/.exec(marker[1] ?? '')?.[1];
      if (since === undefined) {
        v('genz:contract-step needs since=<tag of the older migration that did the expand step>');
        continue;
      }
      const ref = journal.findIndex((e) => e.tag === since || e.tag.split('_')[0] === since);
      if (ref === -1) v(`genz:contract-step since=${since}: no such migration in the journal`);
      else if (ref >= position)
        v(
          `genz:contract-step since=${since}: the expand step must be an older migration than ${entry.tag} ` +
            '(shipped in an earlier release)',
        );
    }
  });
  return violations;
}

export function formatViolations(violations: Violation[]): string {
  return violations.map((x) => `${x.file}:${x.line}: ${x.message}\n    ${x.statement}`).join('\n');
}

if (import.meta.main) {
  const dir = process.argv[2] ?? migrationsFolder;
  const violations = lintMigrations(dir);
  if (violations.length > 0) {
    console.error(`migration-lint: ${violations.length} violation(s) in ${dir}\n${formatViolations(violations)}`);
    process.exitCode = 1;
  } else console.log(`migration-lint: ${dir} is expand-only or properly marked`);
}
