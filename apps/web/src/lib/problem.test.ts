import { describe, expect, it } from 'vitest';
import { translator } from './i18n/catalogs';
import { problemMessage, responseProblemMessage } from './problem';

const en = translator('en');

describe('problemMessage', () => {
  it('prefers the web catalog for a known code', () => {
    expect(problemMessage({ code: 'invalid_credentials', detail: 'x' }, 401, en)).toBe(
      'That email and password do not match an account.',
    );
  });

  it('falls back to detail, then title, then the OpenAI envelope', () => {
    expect(problemMessage({ code: 'something_new', detail: 'Email is required', title: 'Bad' }, 400, en)).toBe(
      'Email is required',
    );
    expect(problemMessage({ title: 'Conflict' }, 409, en)).toBe('Conflict');
    expect(problemMessage({ error: { message: 'Invalid API key' } }, 401, en)).toBe('Invalid API key');
  });

  it('never renders an object', () => {
    expect(problemMessage({ detail: { nested: true } }, 500, en)).toBe('The request failed (HTTP 500). Try again.');
    expect(problemMessage('oops', 500, en)).toBe('The request failed (HTTP 500). Try again.');
  });

  it('reads non-JSON and empty bodies', async () => {
    expect(await responseProblemMessage(new Response('<html>', { status: 404 }), en)).toBe(
      'The request failed (HTTP 404). Try again.',
    );
    expect(await responseProblemMessage(new Response(null, { status: 500 }), en)).toBe(
      'The request failed (HTTP 500). Try again.',
    );
  });
});
