import type { AppConfig } from '../../config/index.ts';
import { ConfigError } from '../../config/index.ts';
import { listPrice, PRICE_TABLE_VERSION } from './price-table.ts';
import type { Alias, Deployment, DeploymentConfig, ProviderKind } from './providers.types.ts';

export const DEMO_ALIAS = 'demo';

const defaultBaseUrl: Record<ProviderKind, string | undefined> = {
  openai: 'https://api.openai.com/v1',
  anthropic: 'https://api.anthropic.com/v1',
  gemini: 'https://generativelanguage.googleapis.com/v1beta',
  'openai-compatible': undefined,
  demo: 'demo://local',
};

export interface Registry {
  deployments: Map<string, Deployment>;
  aliases: Map<string, Alias>;
}

const isEmbeddingModel = (model: string) => /embed/i.test(model);

/**
 * Resolves `providers` config into deployments and aliases:
 * 1. the deployments written in genz.yaml;
 * 2. env shortcuts (OPENAI_API_KEY, ANTHROPIC_API_KEY, GOOGLE_GENERATIVE_AI_API_KEY, OLLAMA_BASE_URL) add a default
 *    deployment per listed model, unless a written deployment already uses that provider;
 * 3. an alias per deployment model name that no written alias claims;
 * 4. the offline `demo` model when nothing else exists (or when asked for).
 * Throws ConfigError naming the key on a dangling reference, so a bad file stops the boot.
 */
export function buildRegistry(config: AppConfig['providers']): Registry {
  const problems: string[] = [];
  const written: DeploymentConfig[] = [...config.deployments];
  const usedProviders = new Set(written.map((d) => d.provider));
  const shortcut = (
    provider: ProviderKind,
    models: string[],
    apiKey: string | undefined,
    baseUrl: string | undefined,
  ) => {
    if (usedProviders.has(provider)) return;
    for (const model of models) {
      const embeddings = isEmbeddingModel(model);
      written.push({
        id: `${provider === 'openai-compatible' ? 'ollama' : provider}/${model}`,
        provider,
        model,
        ...(apiKey ? { apiKey } : {}),
        ...(baseUrl ? { baseUrl } : {}),
        weight: 1,
        contextWindow: 128_000,
        capabilities: { tools: !embeddings, vision: !embeddings && provider !== 'openai-compatible', embeddings },
      });
    }
  };
  if (config.openai.apiKey) shortcut('openai', config.openai.models, config.openai.apiKey, config.openai.baseUrl);
  if (config.anthropic.apiKey)
    shortcut('anthropic', config.anthropic.models, config.anthropic.apiKey, config.anthropic.baseUrl);
  if (config.gemini.apiKey) shortcut('gemini', config.gemini.models, config.gemini.apiKey, config.gemini.baseUrl);
  if (config.ollama.baseUrl) {
    const base = config.ollama.baseUrl.replace(/\/+$/, '');
    shortcut('openai-compatible', config.ollama.models, undefined, base.endsWith('/v1') ? base : `${base}/v1`);
  }
  const wantsDemo = config.demo === 'on' || (config.demo === 'auto' && written.length === 0);
  if (wantsDemo && !written.some((d) => d.id === DEMO_ALIAS)) {
    written.push({
      id: DEMO_ALIAS,
      provider: 'demo',
      model: 'genz-demo',
      weight: 1,
      contextWindow: 32_768,
      capabilities: { tools: false, vision: false, embeddings: true },
    });
  }

  const deployments = new Map<string, Deployment>();
  for (const [i, d] of written.entries()) {
    if (deployments.has(d.id)) problems.push(`providers.deployments.${i}.id: duplicate deployment id ${d.id}`);
    const vendor =
      d.provider === 'openai' || d.provider === 'anthropic' || d.provider === 'gemini' ? config[d.provider] : undefined;
    const baseUrl = (d.baseUrl ?? vendor?.baseUrl ?? defaultBaseUrl[d.provider])?.replace(/\/+$/, '');
    if (!baseUrl) problems.push(`providers.deployments.${i}.baseUrl: required for provider ${d.provider}`);
    const apiKey = d.apiKey ?? vendor?.apiKey;
    if (!apiKey && (d.provider === 'anthropic' || d.provider === 'gemini' || d.provider === 'openai')) {
      problems.push(`providers.deployments.${i}.apiKey: no key for ${d.id} (set apiKeyEnv, or the provider's env key)`);
    }
    const listed = listPrice(d.model);
    const price =
      d.inputPricePerMTok !== undefined || d.outputPricePerMTok !== undefined
        ? { input: (d.inputPricePerMTok ?? 0) / 1e6, output: (d.outputPricePerMTok ?? 0) / 1e6, source: 'config' }
        : listed
          ? { ...listed, source: PRICE_TABLE_VERSION }
          : { input: 0, output: 0, source: 'unpriced' };
    deployments.set(d.id, {
      id: d.id,
      provider: d.provider,
      model: d.model,
      baseUrl: baseUrl ?? '',
      apiKey,
      weight: d.weight,
      contextWindow: d.contextWindow,
      capabilities: { ...d.capabilities },
      price,
    });
  }

  const aliases = new Map<string, Alias>();
  for (const [name, alias] of Object.entries(config.aliases)) {
    const members: Deployment[] = [];
    for (const id of alias.deployments) {
      const d = deployments.get(id);
      if (d) members.push(d);
      else problems.push(`providers.aliases.${name}.deployments: unknown deployment ${id}`);
    }
    aliases.set(name, {
      name,
      strategy: alias.strategy ?? 'fallback',
      deployments: members,
      description: alias.description,
    });
  }
  // A deployment no written alias claims is reachable by its model name.
  for (const d of deployments.values()) {
    const name = d.provider === 'demo' ? DEMO_ALIAS : d.model;
    const existing = aliases.get(name);
    if (!existing) aliases.set(name, { name, strategy: 'fallback', deployments: [d], description: undefined });
    else if (!Object.hasOwn(config.aliases, name) && !existing.deployments.includes(d)) existing.deployments.push(d);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { deployments, aliases };
}
