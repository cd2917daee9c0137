export * from './chats.ts';
export * from './errors.ts';
export * from './pagination.ts';
export * from './password-policy.ts';
export * from './scopes.ts';
export * from './usage.ts';
