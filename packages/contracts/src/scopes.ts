/**
 * API-key scopes. `inference` for `/v1`, `chat` for conversations, `read` for read-only `/api`, `admin` for
 * `/api/admin/*` (only honoured on keys owned by an admin). Browser sessions (cookies) carry every scope the
 * user's role allows; keys carry only what they were created with.
 */
export const apiKeyScopes = ['inference', 'chat', 'read', 'admin'] as const;
export type ApiKeyScope = (typeof apiKeyScopes)[number];
export const API_KEY_PREFIX = 'gz_';
