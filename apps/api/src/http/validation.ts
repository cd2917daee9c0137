import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';

const common: Options = {
  // Unknown fields are rejected (schemas say additionalProperties: false), never silently dropped.
  removeAdditional: false,
  useDefaults: true,
  allErrors: false,
  strict: false,
};

/**
 * One validation policy for every route. JSON bodies carry real types, so they are validated without coercion:
 * a string where a number belongs is a 400 naming the field, and coercion inside `anyOf` cannot rewrite data while
 * it tries branches (it once turned a one-part content array into an object). Query strings, params and headers
 * arrive as text, so they are coerced (`?limit=20` becomes 20; a repeated key becomes an array).
 */
export function createValidatorCompiler(): FastifySchemaCompiler<object> {
  const body = new Ajv({ ...common, coerceTypes: false });
  const text = new Ajv({ ...common, coerceTypes: 'array' });
  for (const ajv of [body, text]) addFormats.default(ajv);
  return ({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema);
}
