/**
 * The one owner of trusted-proxy policy (ARCHITECTURE.md §12). Fastify resolves `request.ip` from
 * X-Forwarded-For only through peers this setting trusts, so a forged header from an untrusted client is ignored
 * and buys no extra attempts against any limit keyed by IP.
 */
export type TrustProxy = boolean | string[] | ((address: string, hop: number) => boolean);

export function parseTrustProxy(value: string): TrustProxy {
  const v = value.trim().toLowerCase();
  if (v === 'true') return true;
  if (v === 'false' || v === '') return false;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    return (_address, hop) => hop < hops;
  }
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
