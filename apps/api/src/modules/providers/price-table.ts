/**
 * List prices in USD per million tokens, by upstream model name. Versioned: a usage event records the version it was
 * priced with, so a later change of list price never rewrites history. A deployment's own price in genz.yaml wins.
 */
export const PRICE_TABLE_VERSION = '2025-06-01';

const perMTok: Record<string, { input: number; output: number }> = {
  'gpt-4o': { input: 2.5, output: 10 },
  'gpt-4o-mini': { input: 0.15, output: 0.6 },
  'gpt-4.1': { input: 2, output: 8 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4 },
  o3: { input: 2, output: 8 },
  'o4-mini': { input: 1.1, output: 4.4 },
  'text-embedding-3-small': { input: 0.02, output: 0 },
  'text-embedding-3-large': { input: 0.13, output: 0 },
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'claude-sonnet-4-0': { input: 3, output: 15 },
  'claude-opus-4-1': { input: 15, output: 75 },
  'claude-3-5-haiku-latest': { input: 0.8, output: 4 },
  'gemini-2.5-pro': { input: 1.25, output: 10 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4 },
};

/** USD per token for a model, or undefined when the table does not know it. */
export function listPrice(model: string): { input: number; output: number } | undefined {
  const entry = perMTok[model];
  return entry ? { input: entry.input / 1e6, output: entry.output / 1e6 } : undefined;
}
