/** Test helpers for chat streams (used by the route and multi-process tests). */

export interface ParsedEvent {
  id: string;
  event: string;
  data: string;
}

/** Complete SSE events in `text` (comments skipped); a trailing partial event is left out. */
export function parseSse(text: string): ParsedEvent[] {
  const out: ParsedEvent[] = [];
  const blocks = text.split('\n\n');
  blocks.pop(); // whatever follows the last blank line is incomplete
  for (const block of blocks) {
    let id = '';
    let event = 'message';
    const data: string[] = [];
    let any = false;
    for (const line of block.split('\n')) {
      if (line.startsWith(':') || line === '') continue;
      any = true;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (any) out.push({ id, event, data: data.join('\n') });
  }
  return out;
}
