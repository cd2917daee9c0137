import {
  ConversationPage,
  ConversationSchema,
  GenerationStopSchema,
  ImportResultSchema,
  MessagePage,
  PresetPage,
  PresetSchema,
  SearchPage,
  SharePage,
  ShareSchema,
  ShareSnapshotSchema,
} from '@genz/contracts';
import { type Static, Type } from 'typebox';

/**
 * Request schemas of the chat routes. Ids are plain bounded strings: a malformed id is answered like an unknown
 * one (404), by the service. Limits that config names (message size, title length) are checked by the service so
 * the answer quotes the configured value.
 */
const strict = { additionalProperties: false } as const;
const Id = Type.String({ minLength: 1, maxLength: 64 });
const Cursor = Type.String({ minLength: 1, maxLength: 512 });
const Limit = Type.Integer({ minimum: 1, maximum: 1000 });

export const Settings = Type.Object(
  {
    systemPrompt: Type.Optional(Type.String({ maxLength: 1_000_000 })),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    params: Type.Optional(
      Type.Object(
        {
          temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
          maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
          topP: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
        },
        strict,
      ),
    ),
  },
  strict,
);

const Options = Type.Object(
  {
    temperature: Type.Optional(Type.Number({ minimum: 0, maximum: 2 })),
    maxTokens: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    topP: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
  },
  strict,
);

const tags = ['chats'];
const IdParams = Type.Object({ id: Id }, strict);

const CreateConversationBody = Type.Object(
  {
    title: Type.Optional(Type.String({ maxLength: 10_000 })),
    settings: Type.Optional(Settings),
    presetId: Type.Optional(Id),
  },
  strict,
);
export type CreateConversationBody = Static<typeof CreateConversationBody>;

const UpdateConversationBody = Type.Object(
  {
    title: Type.Optional(Type.String({ maxLength: 10_000 })),
    pinned: Type.Optional(Type.Boolean()),
    archived: Type.Optional(Type.Boolean()),
    settings: Type.Optional(Settings),
    activeLeafId: Type.Optional(Id),
  },
  { ...strict, minProperties: 1 },
);
export type UpdateConversationBody = Static<typeof UpdateConversationBody>;

const SendMessageBody = Type.Object(
  {
    content: Type.String({ description: 'The message text (limit: chats.maxMessageChars).' }),
    parentId: Type.Optional(Type.Union([Id, Type.Null()])),
    model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    options: Type.Optional(Options),
  },
  strict,
);
export type SendMessageBody = Static<typeof SendMessageBody>;

const RegenerateBody = Type.Object(
  { model: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })), options: Type.Optional(Options) },
  strict,
);
export type RegenerateBody = Static<typeof RegenerateBody>;

const PresetBody = Type.Object({ name: Type.String({ maxLength: 10_000 }), settings: Settings }, strict);
export type PresetBody = Static<typeof PresetBody>;

const sse =
  'Answers `text/event-stream`: events `message`, `delta`, `part`, then `done` or `error`, each with `id: <seq>`.';

export const listConversations = {
  tags,
  response: { 200: ConversationPage },
  querystring: Type.Object(
    { archived: Type.Optional(Type.Boolean()), cursor: Type.Optional(Cursor), limit: Type.Optional(Limit) },
    strict,
  ),
};
export const createConversation = { tags, body: CreateConversationBody, response: { 201: ConversationSchema } };
export const conversationById = { tags, params: IdParams, response: { 200: ConversationSchema } };
export const updateConversation = {
  tags,
  params: IdParams,
  body: UpdateConversationBody,
  response: { 200: ConversationSchema },
};
export const deleteById = { tags, params: IdParams };
export const listMessages = {
  tags,
  params: IdParams,
  response: { 200: MessagePage },
  querystring: Type.Object(
    {
      leafId: Type.Optional(Id),
      cursor: Type.Optional(Cursor),
      limit: Type.Optional(Limit),
      view: Type.Optional(
        Type.Union([Type.Literal('branch'), Type.Literal('tree')], {
          description:
            '`branch` (default): the path to `leafId` (or the active leaf), newest page first. `tree`: every message, oldest first.',
        }),
      ),
    },
    strict,
  ),
};
export const sendMessage = {
  tags,
  description: `Persists the message and starts the reply. Optional Idempotency-Key header. ${sse}`,
  params: IdParams,
  body: SendMessageBody,
};
export const regenerate = {
  tags,
  description: `A new reply as a sibling branch. ${sse}`,
  params: IdParams,
  body: Type.Optional(RegenerateBody),
};
export const generationEvents = {
  tags,
  description: `Resumes a generation after the Last-Event-ID header (0 or absent: from the start). ${sse}`,
  params: Type.Object({ gid: Id }, strict),
};
export const stopGeneration = {
  tags,
  params: Type.Object({ gid: Id }, strict),
  response: { 200: GenerationStopSchema },
};
export const listPresets = { tags, response: { 200: PresetPage } };
export const createPreset = { tags, body: PresetBody, response: { 201: PresetSchema } };
export const updatePreset = {
  tags,
  params: IdParams,
  response: { 200: PresetSchema },
  body: Type.Object(
    { name: Type.Optional(Type.String({ maxLength: 10_000 })), settings: Type.Optional(Settings) },
    { ...strict, minProperties: 1 },
  ),
};
export const search = {
  tags,
  response: { 200: SearchPage },
  querystring: Type.Object(
    { q: Type.String({ minLength: 1, maxLength: 500 }), cursor: Type.Optional(Cursor), limit: Type.Optional(Limit) },
    strict,
  ),
};
export const createShare = {
  tags,
  params: IdParams,
  response: { 201: ShareSchema },
  body: Type.Optional(
    Type.Object({ expiresInSec: Type.Optional(Type.Integer({ minimum: 60, maximum: 366 * 86_400 })) }, strict),
  ),
};
export const listShares = { tags, response: { 200: SharePage } };
export const readShare = {
  tags,
  response: { 200: ShareSnapshotSchema, 304: Type.Null({ description: 'If-None-Match named the current version.' }) },
  params: Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) }, strict),
};
const Format = Type.Object(
  { format: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('markdown')])) },
  strict,
);
export const exportOne = { tags, params: IdParams, querystring: Format };
export const exportAll = { tags, querystring: Format };
export const importChatGpt = {
  tags,
  response: { 201: ImportResultSchema },
  description: 'Imports a ChatGPT export (`conversations.json`), all or nothing (limit: chats.importMaxBytes).',
};
