import { describe, expect, it } from 'vitest';
import { imageAllowed, safeHref } from './safe-links';

const base = 'https://chat.example';

describe('safeHref', () => {
  it('keeps http(s) and mailto links', () => {
    expect(safeHref('https://example.com/a?b=1', base)).toBe('https://example.com/a?b=1');
    expect(safeHref('mailto:ada@example.com', base)).toBe('mailto:ada@example.com');
    expect(safeHref('/chat/1', base)).toBe('https://chat.example/chat/1');
  });

  it('makes script and data links inert, including obfuscated schemes', () => {
    for (const href of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      ' javascript:alert(1)',
      'java\tscript:alert(1)',
      'java\nscript:alert(1)',
      '\u0001javascript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'vbscript:msgbox(1)',
      'file:///etc/passwd',
    ]) {
      expect(safeHref(href, base), JSON.stringify(href)).toBeNull();
    }
  });
});

describe('imageAllowed', () => {
  it('allows this origin and the configured ones only', () => {
    expect(imageAllowed('/img/a.png', base, [])).toBe(true);
    expect(imageAllowed('https://cdn.example/a.png', base, ['https://cdn.example'])).toBe(true);
    expect(imageAllowed('https://tracker.example/pixel.gif', base, ['https://cdn.example'])).toBe(false);
    expect(imageAllowed('x', base, [])).toBe(true);
    expect(imageAllowed('data:image/svg+xml,<svg onload=alert(1)>', base, [])).toBe(false);
    expect(imageAllowed('javascript:alert(1)', base, [])).toBe(false);
  });
});
