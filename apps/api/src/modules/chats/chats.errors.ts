import { DomainError } from '../../http/errors.ts';

/**
 * Chat errors. A foreign id and a missing one are the same 404: answering 403 would tell a caller that someone
 * else's conversation exists.
 */
export const conversationNotFound = () => new DomainError('not_found', 'Conversation not found');
export const messageNotFound = () => new DomainError('not_found', 'Message not found');
export const generationNotFound = () => new DomainError('not_found', 'Generation not found');
export const presetNotFound = () => new DomainError('not_found', 'Preset not found');
export const shareNotFound = () => new DomainError('not_found', 'Share not found');

export const invalidCursor = () =>
  new DomainError('invalid_cursor', 'The cursor is malformed or belongs to another list.');
