import { randomFillSync } from 'node:crypto';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

let lastMs = -1;
let seq = 0;

// Random bytes are drawn from a pool refilled 4 KiB at a time: a crypto call per id was most of an id's cost (the
// usage writer makes one per /v1 request).
const pool = new Uint8Array(4096);
let poolAt = pool.length;
function randomAt(n: number): number {
  if (poolAt + n > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const at = poolAt;
  poolAt += n;
  return at;
}

/**
 * A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version 7, then a 12-bit per-millisecond counter (method 1,
 * "fixed bit-length dedicated counter") and 62 random bits. Generated in the app because PostgreSQL 15 has no
 * uuidv7(). Monotonic within this process: ids made in the same millisecond count up, and a clock that steps back
 * keeps using the last timestamp, so ids sort in creation order (good B-tree locality, keyset-friendly).
 */
export function uuidv7(): string {
  let ms = Date.now();
  if (ms > lastMs) {
    lastMs = ms;
    // Random start in the lower half leaves room to count up within the millisecond.
    const at = randomAt(2);
    seq = (((pool[at] ?? 0) << 8) | (pool[at + 1] ?? 0)) & 0x7ff;
  } else {
    ms = lastMs;
    seq++;
    if (seq > 0xfff) {
      // Counter exhausted: borrow the next millisecond (RFC 9562 §6.2 allows the timestamp to run ahead).
      lastMs++;
      ms = lastMs;
      seq = 0;
    }
  }
  const b = new Uint8Array(16);
  const r = randomAt(8);
  b.set(pool.subarray(r, r + 8), 8);
  b[0] = Math.floor(ms / 2 ** 40) & 0xff;
  b[1] = Math.floor(ms / 2 ** 32) & 0xff;
  b[2] = (ms >>> 24) & 0xff;
  b[3] = (ms >>> 16) & 0xff;
  b[4] = (ms >>> 8) & 0xff;
  b[5] = ms & 0xff;
  b[6] = 0x70 | (seq >>> 8);
  b[7] = seq & 0xff;
  b[8] = 0x80 | ((b[8] ?? 0) & 0x3f);
  let s = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-';
    s += HEX[b[i] ?? 0];
  }
  return s;
}

/** The Unix milliseconds embedded in a UUIDv7. */
export function uuidv7Time(id: string): number {
  return Number.parseInt(id.replaceAll('-', '').slice(0, 12), 16);
}
