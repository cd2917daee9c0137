import { ConfigSchema } from './schema.ts';

interface Node {
  type?: string;
  env?: string;
  default?: unknown;
  description?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  properties?: Record<string, Node>;
  items?: Node;
}

function typeOf(node: Node): string {
  if (node.enum) return node.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (node.type === 'array') return `list of ${node.items?.type ?? 'string'} (comma-separated in env)`;
  const range =
    node.minimum !== undefined || node.maximum !== undefined ? ` (${node.minimum ?? ''}..${node.maximum ?? ''})` : '';
  return `${node.type ?? 'string'}${range}`;
}

function rows(node: Node, path: string[]): string[] {
  if (node.properties) return Object.entries(node.properties).flatMap(([k, child]) => rows(child, [...path, k]));
  const dflt = node.default === undefined ? '' : `\`${JSON.stringify(node.default)}\``;
  const desc = (node.description ?? '').replaceAll('|', '\\|');
  return [`| \`${path.join('.')}\` | ${node.env ? `\`${node.env}\`` : ''} | ${typeOf(node)} | ${dflt} | ${desc} |`];
}

/** docs/configuration.md, generated from the one config schema (`npm run docs:config`). */
export function renderConfigDocs(): string {
  return [
    '# Configuration',
    '',
    '<!-- Generated from apps/api/src/config/schema.ts by `npm run docs:config`; do not edit by hand. -->',
    '',
    'GenZ AI reads its settings once at boot: built-in defaults, then `genz.yaml` (the file named by `GENZ_CONFIG`, or',
    '`./genz.yaml` when present), then environment variables. A bad or unknown value stops the boot with the key (and',
    'the variable or file it came from) named. Keys are written in `genz.yaml` as nested mappings: `server.port: 9000`',
    'is `server:` / `  port: 9000`.',
    '',
    '| key | env | type | default | description |',
    '| --- | --- | --- | --- | --- |',
    ...rows(ConfigSchema as Node, []),
    '',
  ].join('\n');
}
