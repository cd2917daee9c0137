/**
 * The typed client for the native API under `/api` (ARCHITECTURE §12). Same origin, cookies only: the API sets
 * HttpOnly session cookies and this file never sees or stores a token.
 *
 * - Errors become `ApiError` (parsed problem+json); `errorMessage()` turns one into a sentence from the catalog,
 *   falling back to the API's `detail`, never `[object Object]`.
 * - A 401 on a signed-in route first tries `POST /api/auth/refresh` once (shared by concurrent calls), repeats the
 *   request, and only then sends the browser to `/login?next=<where it was>`. A 401 `invalid_credentials` (a wrong
 *   current password or code typed on a signed-in page) is the answer to show, not an expired session.
 */
import type { ConversationDto, UsageItem, UsageReport } from '@genz/contracts';
import { type ApiKeyScope, apiKeyScopes } from '@genz/contracts/scopes';
import type { Translate } from './i18n';
import { messageForProblem, type ParsedProblem, readJson, responseProblem } from './problem';

// ---------- shapes (the contract as the web app reads it; see docs/web.md) ----------

export type Role = 'user' | 'admin';
export type UserStatus = 'active' | 'disabled' | 'pending_approval';
export type Scope = ApiKeyScope;
export const scopes: readonly Scope[] = apiKeyScopes;
export type { UsageItem, UsageReport };

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface User {
  id: string;
  email: string;
  role: Role;
  plan: string;
  status: UserStatus;
  emailVerified: boolean;
  createdAt: string;
  lastActiveAt: string | null;
}

export interface Me extends User {
  scopes: Scope[];
}

export interface SessionInfo {
  id: string;
  createdAt: string;
  lastUsedAt: string;
  expiresAt: string;
  userAgent: string | null;
  ip: string | null;
  current: boolean;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  scopes: Scope[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
}

export type SignupMode = 'open' | 'invite' | 'domain' | 'approval';
export const signupModes: readonly SignupMode[] = ['open', 'invite', 'domain', 'approval'];

export interface SignupSettings {
  mode: SignupMode;
  allowedDomains: string[];
}

export interface Invitation {
  id: string;
  email: string | null;
  role: string;
  plan: string | null;
  createdAt: string;
  expiresAt: string;
}

export interface GenerationParams {
  temperature?: number | undefined;
  maxTokens?: number | undefined;
  topP?: number | undefined;
}

/** Per-conversation (and preset) settings, as packages/db stores them. */
export interface ChatSettings {
  systemPrompt?: string | undefined;
  model?: string | undefined;
  params?: GenerationParams | undefined;
}

export type Conversation = ConversationDto;

export type MessagePart =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; text: string }
  | { type: 'citation'; url: string; title?: string | undefined; snippet?: string | undefined }
  | { type: 'tool_call'; id?: string; name: string; arguments?: string }
  | { type: 'tool_result'; toolCallId: string; content: string }
  | { type: 'file'; fileId?: string; name?: string | undefined; mediaType?: string }
  | { type: 'image'; fileId?: string; url?: string | undefined; mediaType?: string };

export type MessageStatus = 'streaming' | 'complete' | 'stopped' | 'interrupted' | 'error';

export interface Message {
  id: string;
  conversationId: string;
  parentId: string | null;
  role: 'user' | 'assistant' | 'system' | 'tool';
  parts: MessagePart[];
  status: MessageStatus;
  model?: string | null;
  /** The generation producing this message; while `status` is `streaming` the client resumes it. */
  generationId?: string | null;
  tokensIn?: number | null;
  tokensOut?: number | null;
  error?: { code: string; detail: string } | null;
  createdAt: string;
  /** Every message under the same parent (this one included), as the API lists them: the branches there are. */
  siblingIds?: string[];
}

const record = (value: unknown): Record<string, unknown> =>
  typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** Accepts the conversation as the API sends it (`archivedAt` or `archived`, `settings` or flat fields). */
export function normalizeConversation(raw: unknown): Conversation {
  const r = record(raw);
  const settings = record(r.settings);
  return {
    id: String(r.id),
    title: str(r.title),
    pinned: r.pinned === true,
    archived: r.archived === true || (typeof r.archivedAt === 'string' && r.archivedAt !== ''),
    settings: {
      systemPrompt: str(settings.systemPrompt ?? r.systemPrompt) ?? undefined,
      model: str(settings.model ?? r.model) ?? undefined,
      params: (settings.params ?? r.params ?? undefined) as GenerationParams | undefined,
    },
    activeLeafId: str(r.activeLeafId),
    createdAt: str(r.createdAt) ?? new Date(0).toISOString(),
    updatedAt: str(r.updatedAt) ?? str(r.createdAt) ?? new Date(0).toISOString(),
  };
}

/** Accepts a message with `content` (stored parts) or `parts`, or a plain string body. */
export function normalizeMessage(raw: unknown): Message {
  const r = record(raw);
  const content = r.parts ?? r.content;
  const parts: MessagePart[] =
    typeof content === 'string'
      ? [{ type: 'text', text: content }]
      : Array.isArray(content)
        ? (content.filter((p) => typeof record(p).type === 'string') as MessagePart[])
        : [];
  return {
    id: String(r.id),
    conversationId: str(r.conversationId) ?? '',
    parentId: str(r.parentId),
    role: (str(r.role) ?? 'assistant') as Message['role'],
    parts,
    status: (str(r.status) ?? 'complete') as MessageStatus,
    model: str(r.model),
    generationId: str(r.generationId),
    tokensIn: typeof r.tokensIn === 'number' ? r.tokensIn : null,
    tokensOut: typeof r.tokensOut === 'number' ? r.tokensOut : null,
    error: r.error ? (r.error as { code: string; detail: string }) : null,
    createdAt: str(r.createdAt) ?? new Date(0).toISOString(),
    ...(Array.isArray(r.siblingIds)
      ? { siblingIds: r.siblingIds.filter((s): s is string => typeof s === 'string') }
      : {}),
  };
}

/** A TOTP seed, shown once: `otpauthUri` for the QR code, `secret` for typing. */
export interface TotpEnrollment {
  secret: string;
  otpauthUri: string;
}

/** A WebAuthn ceremony: `options` go to the browser, `ceremony` comes back with its answer. */
export interface PasskeyCeremony {
  ceremony: string;
  options: unknown;
}

export type Health = 'healthy' | 'degraded' | 'down' | 'unknown';

export interface ModelInfo {
  id: string;
  name?: string;
  provider?: string;
  health?: Health;
}

export interface SearchHit {
  conversationId: string;
  messageId: string | null;
  title: string | null;
  /** Plain text with matches wrapped in `<mark>`…`</mark>` (or `<b>`…`</b>`); nothing else is markup. */
  snippet: string;
  createdAt?: string;
}

export interface Preset {
  id: string;
  name: string;
  settings: ChatSettings;
}

// ---------- log-in steps ----------

export type SecondFactorMethod = 'totp' | 'passkey';

/** A log-in whose password was right and whose second step is to come (docs/accounts.md "Second factor"). */
export interface PendingLogin {
  status: 'mfa_required' | 'mfa_enrollment_required';
  /** The JWT that `/api/auth/mfa/*` takes instead of a session; it expires after a few minutes. */
  challenge: string;
  methods: SecondFactorMethod[];
}

const isMethod = (m: unknown): m is SecondFactorMethod => m === 'totp' || m === 'passkey';

function pendingFrom(status: unknown, challenge: unknown, methods: unknown): PendingLogin | null {
  if (status !== 'mfa_required' && status !== 'mfa_enrollment_required') return null;
  if (typeof challenge !== 'string' || challenge === '') return null;
  const known = (Array.isArray(methods) ? methods : []).filter(isMethod);
  // The enrolment step always offers the authenticator app; a challenge naming no method we know asks for a code.
  return { status, challenge, methods: known.length > 0 ? known : ['totp'] };
}

/** The second step a `POST /api/auth/login` answer asks for, or null when it started the session. */
export function pendingLogin(answer: unknown): PendingLogin | null {
  const r = record(answer);
  return pendingFrom(r.status, r.challenge, r.methods);
}

/** The second step an OIDC callback hands over in the log-in page's hash (`#status=…&challenge=…&methods=…`). */
export function pendingFromHash(hash: string): PendingLogin | null {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  return pendingFrom(params.get('status'), params.get('challenge'), (params.get('methods') ?? '').split(','));
}

/** The hash that hands a second step to the log-in page (what the API's OIDC callback sends, too). */
export function loginHash(pending: PendingLogin): string {
  const params = new URLSearchParams({
    status: pending.status,
    challenge: pending.challenge,
    methods: pending.methods.join(','),
  });
  return `#${params.toString()}`;
}

// ---------- errors ----------

export class ApiError extends Error {
  readonly problem: ParsedProblem;
  constructor(problem: ParsedProblem) {
    super(problem.detail ?? problem.title ?? problem.code ?? `HTTP ${problem.status}`);
    this.name = 'ApiError';
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
  get code(): string | undefined {
    return this.problem.code;
  }
}

/** A network failure (no response at all). */
export class NetworkError extends Error {
  constructor(cause: unknown) {
    super('network', { cause });
    this.name = 'NetworkError';
  }
}

/** One sentence for any error a call can throw, in the reader's language. */
export function errorMessage(error: unknown, t: Translate): string {
  if (error instanceof ApiError) return messageForProblem(error.problem, t);
  if (error instanceof NetworkError) return t('errors.network');
  if (error instanceof DOMException && error.name === 'AbortError') return t('errors.network');
  return t('errors.internal');
}

/** The field messages of a validation problem (`{ password: '…' }`), empty when there are none. */
export function fieldErrors(error: unknown): Record<string, string> {
  return error instanceof ApiError ? error.problem.fields : {};
}

// ---------- the request core ----------

/** Only same-origin paths are followed after log-in: `//evil.example` and `/\evil` are refused (open redirect). */
export function safeNext(next: string | null | undefined, fallback = '/chat'): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  if (next.startsWith('/login') || next.startsWith('/logout')) return fallback;
  return next;
}

export function loginUrl(from: string): string {
  return `/login?next=${encodeURIComponent(safeNext(from))}&expired=1`;
}

let onUnauthenticated = (): void => {
  if (typeof window === 'undefined') return;
  const here = `${window.location.pathname}${window.location.search}${window.location.hash}`;
  window.location.assign(loginUrl(here));
};

/** Replaces what happens when a signed-in call finally gets 401 (tests; the default navigates to log-in). */
export function setUnauthenticatedHandler(handler: () => void): void {
  onUnauthenticated = handler;
}

let refreshing: Promise<boolean> | null = null;

/** Rotates the session cookies once for every caller that hit a 401 at the same time. */
export function refreshSession(fetcher: typeof fetch = fetch): Promise<boolean> {
  refreshing ??= fetcher('/api/auth/refresh', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { accept: 'application/json' },
  })
    .then((response) => response.ok)
    .catch(() => false)
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Public routes (log-in, sign-up…): a 401 is an answer, not an expired session. Default: signed in. */
  anonymous?: boolean;
  fetcher?: typeof fetch;
}

/** Sends a request and returns the raw response when it is 2xx; throws ApiError/NetworkError otherwise. */
export async function request(path: string, options: RequestOptions = {}): Promise<Response> {
  const fetcher = options.fetcher ?? fetch;
  const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
  const init: RequestInit = {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    credentials: 'same-origin',
    headers,
    signal: options.signal ?? null,
  };
  if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(options.body);
  }
  const send = async () => {
    try {
      return await fetcher(path, init);
    } catch (error) {
      if (error instanceof DOMException && error.name === 'AbortError') throw error;
      throw new NetworkError(error);
    }
  };
  let response = await send();
  if (response.status === 401 && !options.anonymous) {
    // A wrong password or code typed on a signed-in page (changing the password, turning the second factor off)
    // is an answer about what was typed: the session is fine, so no refresh and no trip to log-in.
    const problem = await responseProblem(response.clone());
    if (problem.code === 'invalid_credentials') throw new ApiError(problem);
    if (await refreshSession(fetcher)) response = await send();
    if (response.status === 401) {
      const problem = await responseProblem(response);
      onUnauthenticated();
      throw new ApiError(problem);
    }
  }
  if (!response.ok) throw new ApiError(await responseProblem(response));
  return response;
}

/** JSON in, JSON out; `undefined` for 204. */
export async function apiJson<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const response = await request(path, options);
  if (response.status === 204) return undefined as T;
  return (await readJson(response)) as T;
}

const q = (params: Record<string, string | number | boolean | null | undefined>): string => {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
};

const id = (value: string) => encodeURIComponent(value);

// ---------- endpoints ----------

export const api = {
  // accounts (modules/auth)
  signup: (body: { email: string; password: string; inviteToken?: string }) =>
    apiJson<{ status: string; message?: string }>('/api/auth/signup', { body, anonymous: true }),
  login: (body: { email: string; password: string }) => apiJson<unknown>('/api/auth/login', { body, anonymous: true }),
  /** `{ redirectTo }` when the identity provider ends its own session too (OIDC RP-initiated logout), else nothing. */
  logout: () => apiJson<{ redirectTo: string } | undefined>('/api/auth/logout', { method: 'POST', anonymous: true }),
  /** The second step: a code, a recovery code or a passkey assertion (ceremony from `passkeyLoginOptions`). */
  mfaVerify: (
    body: { challenge: string } & (
      | { code: string }
      | { recoveryCode: string }
      | { passkey: { ceremony: string; response: unknown } }
    ),
  ) => apiJson<unknown>('/api/auth/mfa/verify', { body, anonymous: true }),
  passkeyLoginOptions: () => apiJson<PasskeyCeremony>('/api/auth/passkeys/options', { body: {}, anonymous: true }),
  /** Forced enrolment (a role that requires a factor): the seed, then a code that turns it on and signs in. */
  mfaEnroll: (challenge: string) =>
    apiJson<TotpEnrollment>('/api/auth/mfa/enroll', { body: { challenge }, anonymous: true }),
  mfaEnrollConfirm: (challenge: string, code: string) =>
    apiJson<{ recoveryCodes: string[] }>('/api/auth/mfa/enroll/confirm', {
      body: { challenge, code },
      anonymous: true,
    }),
  mfaEnrollPasskeyOptions: (challenge: string) =>
    apiJson<PasskeyCeremony>('/api/auth/mfa/enroll/passkey/options', { body: { challenge }, anonymous: true }),
  mfaEnrollPasskeyVerify: (challenge: string, ceremony: string, response: unknown) =>
    apiJson<unknown>('/api/auth/mfa/enroll/passkey/verify', {
      body: { challenge, ceremony, response },
      anonymous: true,
    }),
  verifyEmail: (token: string) =>
    apiJson<{ verified: true }>('/api/auth/verify-email', { body: { token }, anonymous: true }),
  requestPasswordReset: (email: string) =>
    apiJson<unknown>('/api/auth/password-reset/request', { body: { email }, anonymous: true }),
  confirmPasswordReset: (token: string, newPassword: string) =>
    apiJson<unknown>('/api/auth/password-reset/confirm', { body: { token, newPassword }, anonymous: true }),
  setup: (body: { token: string; email: string; password: string }) =>
    apiJson<User>('/api/auth/setup', { body, anonymous: true }),
  me: () => apiJson<Me>('/api/me'),
  changePassword: (currentPassword: string, newPassword: string) =>
    apiJson<void>('/api/me/password', { body: { currentPassword, newPassword } }),
  sessions: () => apiJson<Page<SessionInfo>>('/api/me/sessions'),
  revokeSession: (sessionId: string) => apiJson<void>(`/api/me/sessions/${id(sessionId)}`, { method: 'DELETE' }),
  revokeOtherSessions: () => apiJson<{ revoked: number }>('/api/me/sessions', { method: 'DELETE' }),
  apiKeys: (cursor?: string) => apiJson<Page<ApiKey>>(`/api/me/api-keys${q({ cursor })}`),
  createApiKey: (body: { name: string; scopes: Scope[]; expiresAt?: string }) =>
    apiJson<ApiKey & { key: string }>('/api/me/api-keys', { body }),
  revokeApiKey: (keyId: string) => apiJson<void>(`/api/me/api-keys/${id(keyId)}`, { method: 'DELETE' }),
  usage: () => apiJson<UsageReport>('/api/me/usage'),
  // admin
  adminUsers: (params: { q?: string | undefined; status?: UserStatus | undefined; cursor?: string }) =>
    apiJson<Page<User>>(`/api/admin/users${q({ q: params.q, status: params.status, cursor: params.cursor })}`),
  adminSignupSettings: () => apiJson<SignupSettings>('/api/admin/settings/signup'),
  adminSetSignupSettings: (body: SignupSettings) =>
    apiJson<SignupSettings>('/api/admin/settings/signup', { method: 'PUT', body }),
  adminInvitations: (cursor?: string) => apiJson<Page<Invitation>>(`/api/admin/invitations${q({ cursor })}`),
  /** The answer's `url` is the invitation link, shown once (only its hash is stored). */
  adminCreateInvitation: (body: { email?: string; role?: Role; plan?: string }) =>
    apiJson<Invitation & { url: string }>('/api/admin/invitations', { body }),
  adminRevokeInvitation: (invitationId: string) =>
    apiJson<void>(`/api/admin/invitations/${id(invitationId)}`, { method: 'DELETE' }),
  adminUpdateUser: (userId: string, body: { status?: UserStatus; role?: Role; plan?: string }) =>
    apiJson<User>(`/api/admin/users/${id(userId)}`, { method: 'PATCH', body }),
  // models (router)
  models: () => apiJson<Page<ModelInfo>>('/api/models'),
  // chats
  conversations: async (params: { cursor?: string | null; archived?: boolean }) => {
    const page = await apiJson<Page<unknown>>(
      `/api/conversations${q({ cursor: params.cursor, archived: params.archived ? true : undefined, limit: 30 })}`,
    );
    return { items: page.items.map(normalizeConversation), nextCursor: page.nextCursor };
  },
  conversation: async (conversationId: string) =>
    normalizeConversation(await apiJson<unknown>(`/api/conversations/${id(conversationId)}`)),
  createConversation: async (body: { title?: string; settings?: ChatSettings }) =>
    normalizeConversation(await apiJson<unknown>('/api/conversations', { body })),
  updateConversation: async (
    conversationId: string,
    body: { title?: string; pinned?: boolean; archived?: boolean; settings?: ChatSettings; activeLeafId?: string },
  ) =>
    normalizeConversation(
      await apiJson<unknown>(`/api/conversations/${id(conversationId)}`, { method: 'PATCH', body }),
    ),
  deleteConversation: (conversationId: string) =>
    apiJson<void>(`/api/conversations/${id(conversationId)}`, { method: 'DELETE' }),
  /** Every message of the conversation (all branches), oldest first: `view=tree`, a page at a time. */
  messages: async (conversationId: string, cursor?: string | null) => {
    const page = await apiJson<Page<unknown>>(
      `/api/conversations/${id(conversationId)}/messages${q({ view: 'tree', cursor, limit: 200 })}`,
    );
    return { items: page.items.map(normalizeMessage), nextCursor: page.nextCursor };
  },
  /**
   * The newest page of one branch (`view=branch`): the messages up to `leafId` (default: the active leaf), oldest
   * first within the page; `nextCursor` goes on towards the root.
   */
  branchMessages: async (conversationId: string, opts: { leafId?: string | null; cursor?: string | null } = {}) => {
    const page = await apiJson<Page<unknown>>(
      `/api/conversations/${id(conversationId)}/messages${q({ view: 'branch', leafId: opts.leafId, cursor: opts.cursor, limit: 200 })}`,
    );
    return { items: page.items.map(normalizeMessage), nextCursor: page.nextCursor };
  },
  stopGeneration: (generationId: string) =>
    apiJson<void>(`/api/generations/${id(generationId)}/stop`, { method: 'POST' }),
  search: (query: string, cursor?: string | null) => apiJson<Page<SearchHit>>(`/api/search${q({ q: query, cursor })}`),
  presets: () => apiJson<Page<Preset>>('/api/presets'),
  createPreset: (body: Omit<Preset, 'id'>) => apiJson<Preset>('/api/presets', { body }),
  deletePreset: (presetId: string) => apiJson<void>(`/api/presets/${id(presetId)}`, { method: 'DELETE' }),
};
