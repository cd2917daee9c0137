// Liveness of the web process only (ARCHITECTURE §12); it never calls the API.
export const dynamic = 'force-dynamic';

export function GET(): Response {
  return Response.json({ status: 'ok' }, { headers: { 'cache-control': 'no-store' } });
}
