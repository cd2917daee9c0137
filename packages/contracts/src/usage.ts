import { type Static, Type } from 'typebox';

/** One limit from `GET /api/me/usage` (docs/limits.md). A limit set to null in the config is not listed. */
export const UsageItemSchema = Type.Object({
  policy: Type.String(),
  scope: Type.Union([Type.Literal('user'), Type.Literal('api_key')]),
  unit: Type.Union([Type.Literal('requests'), Type.Literal('tokens'), Type.Literal('usd')]),
  kind: Type.Union([Type.Literal('rate'), Type.Literal('quota')]),
  limit: Type.Number(),
  used: Type.Number(),
  remaining: Type.Number(),
  resetAt: Type.String({ format: 'date-time' }),
});
export type UsageItem = Static<typeof UsageItemSchema>;

/** `GET /api/me/usage`: every limit of the user (and of the calling API key) with its current use. */
export const UsageReportSchema = Type.Object({
  plan: Type.String(),
  overridden: Type.Boolean(),
  store: Type.String({ description: '`redis` (global), `memory` (this replica: Redis absent or failing).' }),
  items: Type.Array(UsageItemSchema),
});
export type UsageReport = Static<typeof UsageReportSchema>;
