import { type Static, type TSchema, Type } from 'typebox';
import { Page } from './pagination.ts';

/**
 * Chat shapes (`/api/conversations`, messages, presets, search, shares): what the API serialises and the web
 * client and SDK read. Streaming events are documented in ARCHITECTURE §12 and docs/chats.md.
 */
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const GenerationParamsSchema = Type.Object({
  temperature: Type.Optional(Type.Number()),
  maxTokens: Type.Optional(Type.Integer()),
  topP: Type.Optional(Type.Number()),
});

export const ChatSettingsSchema = Type.Object({
  systemPrompt: Type.Optional(Type.String()),
  model: Type.Optional(Type.String()),
  params: Type.Optional(GenerationParamsSchema),
});

/** A typed content part: `text`, `reasoning`, `file`, `image`, `citation`, `tool_call`, `tool_result`. */
export const ContentPartSchema = Type.Object({ type: Type.String() }, { additionalProperties: true });

export const ConversationSchema = Type.Object({
  id: Type.String(),
  title: Nullable(Type.String()),
  pinned: Type.Boolean(),
  archived: Type.Boolean(),
  settings: ChatSettingsSchema,
  activeLeafId: Nullable(Type.String()),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type ConversationDto = Static<typeof ConversationSchema>;

export const MessageStatusSchema = Type.Union(
  ['streaming', 'complete', 'stopped', 'interrupted', 'error'].map((s) => Type.Literal(s)),
);

export const MessageSchema = Type.Object({
  id: Type.String(),
  conversationId: Type.String(),
  parentId: Nullable(Type.String()),
  role: Type.String(),
  content: Type.Array(ContentPartSchema),
  status: Type.String(),
  /** The generation producing this message: while `status` is `streaming`, resume it. */
  generationId: Nullable(Type.String()),
  model: Nullable(Type.String()),
  provider: Nullable(Type.String()),
  tokensIn: Nullable(Type.Integer()),
  tokensOut: Nullable(Type.Integer()),
  costUsd: Nullable(Type.Number()),
  error: Nullable(Type.Object({ code: Type.String(), detail: Type.String() })),
  createdAt: Type.String(),
  /** Every message under the same parent (this one included), oldest first: the branches to switch between. */
  siblingIds: Type.Array(Type.String()),
});
export type MessageDto = Static<typeof MessageSchema>;

export const PresetSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  settings: ChatSettingsSchema,
  createdAt: Type.String(),
  updatedAt: Type.String(),
});

export const SearchHitSchema = Type.Object({
  conversationId: Type.String(),
  title: Nullable(Type.String()),
  /** Null for a hit in the title. */
  messageId: Nullable(Type.String()),
  /** Plain text with matches in `<mark>`…`</mark>` (escape everything else before rendering as HTML). */
  snippet: Type.String(),
  createdAt: Type.String(),
  link: Type.String(),
});

export const ShareSchema = Type.Object({
  id: Type.String(),
  conversationId: Type.String(),
  url: Type.String(),
  token: Type.String(),
  createdAt: Type.String(),
  expiresAt: Nullable(Type.String()),
});

export const ShareSnapshotSchema = Type.Object({
  title: Type.String(),
  createdAt: Type.String(),
  messages: Type.Array(
    Type.Object({
      role: Type.String(),
      content: Type.Array(ContentPartSchema),
      createdAt: Type.String(),
      model: Nullable(Type.String()),
    }),
  ),
});

export const GenerationStopSchema = Type.Object({ generationId: Type.String(), status: Type.String() });
export const ImportResultSchema = Type.Object({ imported: Type.Integer(), messages: Type.Integer() });

export const ConversationPage = Page(ConversationSchema);
export const MessagePage = Page(MessageSchema);
export const PresetPage = Page(PresetSchema);
export const SearchPage = Page(SearchHitSchema);
export const SharePage = Page(ShareSchema);
