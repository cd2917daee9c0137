/// <reference lib="dom" />
// The functions handed to page.evaluate run in the browser: DOM types for them (Node types stay as they are).
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { Page } from 'playwright-core';
import type { BenchContext, Scenario } from '../lib/types.ts';
import { fmt, machineBusy, readMachineCpu, startWebSession, summary, type WebSession, webUrl } from '../lib/web.ts';
import { seedChats } from '../seed/chats.ts';

/**
 * Issue 7 "Performance": opening and scrolling a 2,000-message conversation in Chromium, against a 50-message one
 * in the same run.
 *   npm run build -w @genz/web   (once: the bench runs the built web app, apps/web/.next/standalone)
 *   npm run bench -w @genz/bench -- web-scroll [--param messages=2000] [--param small=50] [--param opens=3]
 *                                             [--param step=200] [--param minFrames=300]
 * One seeded user (bench/seed/users.ts) with two conversations seeded by bench/seed/chats.ts (user/assistant
 * exchanges of 12 and 60 words, assistants rendered as markdown): `messages` and `small` messages. Signed in
 * through the log-in form in Debian's Chromium (1280×800, the e2e launch flags), the page opens each conversation
 * `opens` times, alternating big and small, and measures with the browser's performance API:
 * - first render: ms from navigation start to the first message in the DOM and to the first assistant markdown
 *   with text (a MutationObserver installed before any page script), with the messages requests (resource timing:
 *   those started by the first text: the view paints from the newest page of the active branch, then loads the
 *   whole tree in pages of 200 in the background, usually within the settle below);
 * - scrolling: after a 1 s settle, `scrollBy` of `step` px (default 200: 12,000 px/s at 60 Hz, a fast fling) in
 *   every requestAnimationFrame from the bottom (where it opens) to the top, then back down and up again until at
 *   least `minFrames` frames were recorded: frame durations (rAF deltas) p50/p95/max, frames over 16.7 / 20 / 50 ms
 *   and the vsyncs missed, long tasks (PerformanceObserver `longtask`) and long animation frames (`long-animation-frame`: count,
 *   blocking time), the most message rows in the DOM at once (windowing), and the JS heap after.
 * No autocannon rounds: the runner's --duration/--rounds do not apply.
 */

interface RenderMarks {
  message: number;
  text: number;
}

interface Opened {
  firstMessageMs: number;
  firstTextMs: number;
  messageRequests: number;
  messagesLoadedMs: number;
}

interface Scrolled {
  deltas: number[];
  longTasks: number[];
  loafs: { duration: number; blocking: number }[];
  /** Script time inside long animation frames, by what invoked it (e.g. `DIV.onscroll`, `FrameRequestCallback`). */
  scripts: Record<string, number>;
  /** Forced style and layout inside long animation frames. */
  forcedLayoutMs: number;
  maxRows: number;
  distance: number;
  ms: number;
  heapMiB: number;
}

function intParam(ctx: BenchContext, name: string, fallback: number): number {
  const raw = ctx.params.get(name);
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--param ${name} must be a positive integer, got ${raw}`);
  return n;
}

/** Opens a conversation and waits for its first assistant text; the marks come from the init script. */
async function open(page: Page, conversationId: string): Promise<Opened> {
  await page.goto(`${webUrl}/chat/${conversationId}`);
  await page.waitForFunction(
    () => Number.isFinite((window as unknown as { __benchRender: RenderMarks }).__benchRender.text),
    undefined,
    { timeout: 120_000 },
  );
  return page.evaluate(() => {
    const marks = (window as unknown as { __benchRender: RenderMarks }).__benchRender;
    const loads = performance
      .getEntriesByType('resource')
      .filter((e) => /\/api\/conversations\/[^/]+\/messages\?/.test(e.name)) as PerformanceResourceTiming[];
    return {
      firstMessageMs: marks.message,
      firstTextMs: marks.text,
      messageRequests: loads.length,
      messagesLoadedMs: Math.max(...loads.map((e) => e.responseEnd)),
    };
  });
}

/** Scrolls the list in animation frames and records what the browser reports meanwhile. */
function scroll(page: Page, step: number, minFrames: number): Promise<Scrolled> {
  return page.evaluate(
    async ({ step, minFrames }) => {
      const el = document.querySelector<HTMLElement>('.messages');
      if (!el) throw new Error('no message list');
      const deltas: number[] = [];
      const longTasks: number[] = [];
      const loafs: { duration: number; blocking: number }[] = [];
      const scripts: Record<string, number> = {};
      let forcedLayoutMs = 0;
      type Loaf = PerformanceEntry & {
        blockingDuration: number;
        scripts: { invoker: string; duration: number; forcedStyleAndLayoutDuration: number }[];
      };
      const addLoaf = (e: PerformanceEntry) => {
        const loaf = e as Loaf;
        loafs.push({ duration: loaf.duration, blocking: loaf.blockingDuration });
        for (const script of loaf.scripts ?? []) {
          scripts[script.invoker] = (scripts[script.invoker] ?? 0) + script.duration;
          forcedLayoutMs += script.forcedStyleAndLayoutDuration;
        }
      };
      const tasks = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) longTasks.push(e.duration);
      });
      tasks.observe({ type: 'longtask' });
      const frames = new PerformanceObserver((list) => {
        for (const e of list.getEntries()) addLoaf(e);
      });
      frames.observe({ type: 'long-animation-frame' });
      let direction = -1;
      let reachedTop = false;
      let maxRows = 0;
      let distance = 0;
      let last = -1;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        const tick = (now: number) => {
          if (last >= 0) deltas.push(now - last);
          last = now;
          maxRows = Math.max(maxRows, el.querySelectorAll('article.message').length);
          if (direction < 0 && el.scrollTop <= 0) {
            reachedTop = true;
            direction = 1;
          } else if (direction > 0 && el.scrollTop >= el.scrollHeight - el.clientHeight - 1) direction = -1;
          // Safety stop: 3 minutes (a pass over 2,000 messages takes under a minute even when loaded).
          if ((reachedTop && deltas.length >= minFrames) || now - t0 > 180_000) {
            resolve();
            return;
          }
          const before = el.scrollTop;
          el.scrollBy(0, direction * step);
          distance += Math.abs(el.scrollTop - before);
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      });
      const ms = performance.now() - t0;
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const e of tasks.takeRecords()) longTasks.push(e.duration);
      for (const e of frames.takeRecords()) addLoaf(e);
      tasks.disconnect();
      frames.disconnect();
      const memory = (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory;
      return {
        deltas,
        longTasks,
        loafs,
        scripts,
        forcedLayoutMs,
        maxRows,
        distance,
        ms,
        heapMiB: memory ? memory.usedJSHeapSize / 1024 / 1024 : Number.NaN,
      };
    },
    { step, minFrames },
  );
}

let session: WebSession | undefined;

export const scenario: Scenario = {
  name: 'web-scroll',
  description:
    'Issue 7 "Performance": opening and scrolling a 2,000-message conversation in Chromium (the built web app in ' +
    'front of the API, real PostgreSQL), against a 50-message one in the same run, measured with the browser’s ' +
    'performance API: time to first render, then frame durations (requestAnimationFrame deltas), long tasks and ' +
    'long animation frames while scrolling the whole list programmatically, one scrollBy per frame.',
  apiEnv: { PUBLIC_URL: webUrl },
  apiConfigYaml: `limits:
  ipRequests: null
  defaults:
    requests: null
`,
  targets: [],
  async setup(ctx) {
    session = await startWebSession(ctx, 'webscroll');
    const big = intParam(ctx, 'messages', 2000);
    const small = intParam(ctx, 'small', 50);
    const seeded = await seedChats({
      databaseUrl: ctx.databaseUrl,
      heavyUserId: session.userId,
      conversations: 2,
      messagesPerConversation: small,
      bigConversationMessages: big,
      otherUsers: 0,
    });
    const client = new pg.Client({ connectionString: ctx.databaseUrl });
    await client.connect();
    const other = (
      await client
        .query<{ id: string }>('select id from conversations where id <> $1', [seeded.bigConversationId])
        .finally(() => client.end())
    ).rows[0];
    if (!other) throw new Error('the small conversation was not seeded');
    ctx.vars.set('big', seeded.bigConversationId);
    ctx.vars.set('small', other.id);
    await session.page.addInitScript(() => {
      const marks = { message: Number.NaN, text: Number.NaN };
      (window as unknown as { __benchRender: typeof marks }).__benchRender = marks;
      const observer = new MutationObserver(() => {
        if (Number.isNaN(marks.message) && document.querySelector('article.message')) marks.message = performance.now();
        const markdown = document.querySelector('article.message-assistant .markdown');
        if (Number.isNaN(marks.text) && markdown?.textContent?.trim()) {
          marks.text = performance.now();
          observer.disconnect();
        }
      });
      observer.observe(document, { childList: true, subtree: true });
    });
  },
  async measure(ctx) {
    if (!session) throw new Error('no web session');
    const page = session.page;
    const opens = intParam(ctx, 'opens', 3);
    const step = intParam(ctx, 'step', 200);
    const minFrames = intParam(ctx, 'minFrames', 300);
    const sizes = [
      { key: 'small', label: `${intParam(ctx, 'small', 50)} messages (baseline)` },
      { key: 'big', label: `${intParam(ctx, 'messages', 2000)} messages` },
    ];
    const opened = new Map<string, Opened[]>(sizes.map((s) => [s.key, []]));
    const scrolled = new Map<string, Scrolled[]>(sizes.map((s) => [s.key, []]));
    // One discarded open of each first: the markdown chunk and the page's code load once per browser.
    for (const s of sizes) await open(page, ctx.vars.get(s.key) as string);
    const cpuFrom = readMachineCpu();
    const started = performance.now();
    for (let i = 0; i < opens; i++) {
      for (const s of i % 2 === 0 ? sizes : [...sizes].reverse()) {
        const o = await open(page, ctx.vars.get(s.key) as string);
        await sleep(1000);
        const r = await scroll(page, step, minFrames);
        opened.get(s.key)?.push(o);
        scrolled.get(s.key)?.push(r);
        const f = summary(r.deltas);
        console.error(
          `    ${s.label}, open ${i + 1}/${opens}: first text ${fmt(o.firstTextMs, 0)} ms; ${f.n} frames, ` +
            `p50 ${fmt(f.p50)} p95 ${fmt(f.p95)} max ${fmt(f.max)} ms`,
        );
      }
    }
    const busy = machineBusy(cpuFrom, readMachineCpu(), (performance.now() - started) / 1000);
    const median = (xs: number[]) => summary(xs).p50;
    const renderRows = sizes.map((s) => {
      const o = opened.get(s.key) ?? [];
      return `  | ${s.label} | ${o[0]?.messageRequests ?? 'n/a'} | ${fmt(median(o.map((x) => x.messagesLoadedMs)), 0)} | ${fmt(median(o.map((x) => x.firstMessageMs)), 0)} | ${fmt(median(o.map((x) => x.firstTextMs)), 0)} |`;
    });
    const scrollRows = sizes.map((s) => {
      const r = scrolled.get(s.key) ?? [];
      const deltas = r.flatMap((x) => x.deltas);
      const f = summary(deltas);
      const over = (ms: number) => deltas.filter((d) => d > ms).length;
      // Vsyncs missed: a 50 ms delta at 60 Hz is 3 intervals, 2 of them frames never shown.
      const dropped = deltas.reduce((a, d) => a + Math.max(0, Math.round(d / (1000 / 60)) - 1), 0);
      const tasks = r.flatMap((x) => x.longTasks);
      const loafs = r.flatMap((x) => x.loafs);
      const seconds = r.reduce((a, x) => a + x.ms, 0) / 1000;
      const pxPerS = r.reduce((a, x) => a + x.distance, 0) / seconds;
      return (
        `  | ${s.label} | ${f.n} | ${fmt(pxPerS, 0)} | ${fmt(f.p50)} | ${fmt(f.p95)} | ${fmt(f.max)} | ` +
        `${over(16.7)} / ${over(20)} / ${over(50)} | ${dropped} | ${tasks.length} (max ${fmt(Math.max(0, ...tasks), 0)}) | ` +
        `${loafs.length} / ${fmt(
          loafs.reduce((a, x) => a + x.blocking, 0),
          0,
        )} | ${Math.max(...r.map((x) => x.maxRows))} | ` +
        `${fmt(median(r.map((x) => x.heapMiB)))} |`
      );
    });
    ctx.note(
      [
        `First render (ms from navigation start, median of ${opens} opens after one discarded open of each; Chromium 1280×800):`,
        '',
        '  | conversation | messages requests | last messages response | first message in the DOM | first assistant markdown with text |',
        '  | --- | ---: | ---: | ---: | ---: |',
        ...renderRows,
      ].join('\n'),
    );
    ctx.note(
      [
        `Scrolling, ${step} px per animation frame through the whole list (bottom → top, then on until ${minFrames} frames), all opens together; machine busy ${busy.toFixed(0)}% of one core over the measured opens (all processes):`,
        '',
        '  | conversation | frames | px/s achieved | frame p50 ms | p95 | max | frames > 16.7 / 20 / 50 ms | dropped (missed vsyncs) | long tasks | long animation frames / blocking ms | most rows in the DOM | JS heap MiB |',
        '  | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
        ...scrollRows,
        '',
        '  rAF timestamps of a 60 Hz display jitter by about 0.1 ms, so "> 16.7" also counts on-time frames; "> 20" ' +
          'is a frame that missed its vsync. Dropped: Σ (round(Δ / 16.67) − 1) over the frames.',
      ].join('\n'),
    );
    const attribution = sizes.map((s) => {
      const r = scrolled.get(s.key) ?? [];
      const by: Record<string, number> = {};
      for (const x of r) for (const [k, v] of Object.entries(x.scripts)) by[k] = (by[k] ?? 0) + v;
      const top = Object.entries(by)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([k, v]) => `\`${k}\` ${fmt(v, 0)}`)
        .join(', ');
      const forced = r.reduce((a, x) => a + x.forcedLayoutMs, 0);
      return `  - ${s.label}: ${top || 'none'}; forced style and layout ${fmt(forced, 0)} ms`;
    });
    ctx.note(
      ['Script time inside the long animation frames by invoker (ms, all opens; top 4):', '', ...attribution].join(
        '\n',
      ),
    );
  },
  async teardown() {
    await session?.stop();
  },
};
