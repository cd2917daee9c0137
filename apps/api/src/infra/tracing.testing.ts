import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A fake OpenTelemetry collector for tests: an HTTP server on 127.0.0.1 that accepts OTLP/HTTP JSON on
 * `/v1/traces` (the wire format the exporter really sends) and keeps every span, flattened.
 */
export interface CollectedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  serviceName: string | undefined;
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
}
interface OtlpAttribute {
  key: string;
  value: OtlpValue;
}
interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: OtlpAttribute[];
}
interface OtlpTraces {
  resourceSpans?: { resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[];
}

function attributeMap(list: OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    const v = value.stringValue ?? value.boolValue ?? value.doubleValue ?? value.intValue;
    if (v !== undefined) out[key] = typeof v === 'string' && value.intValue !== undefined ? Number(v) : v;
  }
  return out;
}

export async function startOtlpCollector(): Promise<{
  endpoint: string;
  spans: CollectedSpan[];
  /** Content types of the export requests received (the exporter must speak JSON here). */
  contentTypes: string[];
  close(): Promise<void>;
}> {
  const spans: CollectedSpan[] = [];
  const contentTypes: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      contentTypes.push(req.headers['content-type'] ?? '');
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces;
      for (const rs of body.resourceSpans ?? []) {
        const serviceName = attributeMap(rs.resource?.attributes)['service.name'];
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId || undefined,
              name: s.name,
              kind: s.kind,
              attributes: attributeMap(s.attributes),
              serviceName: typeof serviceName === 'string' ? serviceName : undefined,
            });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Every span below `root` in its trace (children, grandchildren, ...). */
export function descendantsOf(root: CollectedSpan, spans: CollectedSpan[]): CollectedSpan[] {
  const inTrace = spans.filter((s) => s.traceId === root.traceId);
  const out: CollectedSpan[] = [];
  const frontier = [root.spanId];
  while (frontier.length > 0) {
    const parent = frontier.pop();
    for (const s of inTrace) {
      if (s.parentSpanId === parent) {
        out.push(s);
        frontier.push(s.spanId);
      }
    }
  }
  return out;
}
