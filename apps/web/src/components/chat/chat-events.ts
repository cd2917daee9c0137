import type { Conversation } from '@/lib/api';

/**
 * A tiny in-page bus between the conversation view and the sidebar: a new or renamed conversation shows up in the
 * list without refetching it.
 */
type Listener = (conversation: Conversation) => void;
const listeners = new Set<Listener>();

export function announceConversation(conversation: Conversation): void {
  for (const listener of listeners) listener(conversation);
}

export function onConversation(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Short-lived cache of the model list (health changes; a page load refreshes it). */
let modelsPromise: Promise<unknown> | null = null;
let modelsAt = 0;
export function cachedModels<T>(load: () => Promise<T>): Promise<T> {
  if (!modelsPromise || Date.now() - modelsAt > 30_000) {
    modelsAt = Date.now();
    modelsPromise = load().catch((error: unknown) => {
      modelsPromise = null;
      throw error;
    });
  }
  return modelsPromise as Promise<T>;
}
