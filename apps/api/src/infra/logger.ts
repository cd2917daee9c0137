import type { LoggerOptions } from 'pino';
import type { AppConfig } from '../config/index.ts';

/**
 * Paths pino censors wherever they appear. Secrets must never reach a log line: credentials travel in headers
 * and bodies, and bodies are not logged at all; these paths catch what a careless `log.info({ ... })` might add.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.apiKey',
  '*.key',
  '*.secret',
  '*.totp',
  '*.code',
];

/** pino options for the app logger; tests build their capturing logger from the same options. */
export function loggerOptions(config: AppConfig): LoggerOptions {
  return {
    level: config.log.level,
    redact: { paths: redactPaths, censor: '[redacted]' },
    serializers: {
      req(req: { method: string; url: string; routeOptions?: { url?: string }; ip?: string; id?: string }) {
        // The query string can hold one-time tokens (mail links); log the path and the route template only.
        return { method: req.method, path: req.url.split('?')[0], route: req.routeOptions?.url, ip: req.ip };
      },
    },
  };
}
