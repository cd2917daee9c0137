import { type TSchema, Type } from 'typebox';

/** Every list in `/api` is `{ items, nextCursor }`; `nextCursor` is opaque and null on the last page. */
export const Page = <T extends TSchema>(item: T) =>
  Type.Object({ items: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });

export const PageQuery = Type.Object({
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
});

/** Opaque keyset cursors: base64url JSON of the last row's sort key. Decoding failures are `invalid_cursor`. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): (string | number)[] | null {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length !== arity) return null;
    if (!parsed.every((v) => typeof v === 'string' || typeof v === 'number')) return null;
    return parsed;
  } catch {
    return null;
  }
}
