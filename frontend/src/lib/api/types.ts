// Request and response bodies of the REST API under /api/v1 (docs/api.md).
//
// Every wire type is an alias of the generated `schema.gen.ts`, which `npm run gen:types` writes
// from docs/openapi.json (the document the server serves). A change on the server that the web
// app does not follow fails `npm run check`; a stale generated file fails `npm test`.

import type { components } from './schema.gen';

type Schemas = components['schemas'];

export type Role = Schemas['InstanceRole'];
export type RegistrationMode = Schemas['RegistrationMode'];

/** The server's codes, and two of the client's own: the request never got an API answer. */
export type ErrorCode = Schemas['ErrorCode'] | 'network' | 'bad_response';

export type ErrorBody = Schemas['ErrorBody'];
export type InstanceInfo = Schemas['InstanceInfo'];
export type Me = Schemas['Me'];
export type TokenPair = Schemas['TokenPair'];
export type LoginResponse = Schemas['LoginResponse'];
export type RegisterRequest = Schemas['RegisterRequest'];
export type LoginRequest = Schemas['LoginRequest'];
export type SessionInfo = Schemas['SessionInfo'];
export type TotpSetup = Schemas['TotpSetup'];
export type BackupCodes = Schemas['BackupCodes'];
export type RecoveryCode = Schemas['RecoveryCode'];
export type RevokedSessions = Schemas['RevokedSessions'];
export type AuditEvent = Schemas['AuditEvent'];

/** Bounds shared with the server (protocol `limits`); a test checks them against the schema. */
export const LIMITS = {
  USERNAME_MIN: 3,
  USERNAME_MAX: 32,
  PASSWORD_MIN: 10,
  PASSWORD_MAX: 256,
  DISPLAY_NAME_MAX: 64,
  DEVICE_NAME_MAX: 64,
} as const;

// ---- communities, channels and messages

export type Visibility = Schemas['Visibility'];
export type ChannelKind = Schemas['ChannelKind'];
export type CommunityRole = Schemas['CommunityRole'];
export type Community = Schemas['Community'];
/** What every signed-in user may see of an account. */
export type Profile = Schemas['Profile'];
export type UpdateProfileRequest = Schemas['UpdateProfileRequest'];
export type Member = Schemas['Member'];
export type Ban = Schemas['Ban'];
export type GroupKind = Schemas['GroupKind'];
export type Group = Schemas['Group'];
export type DirectoryEntry = Schemas['DirectoryEntry'];
export type UpdateCommunityRequest = Schemas['UpdateCommunityRequest'];
export type CommunityInvite = Schemas['CommunityInvite'];
export type CreateCommunityRequest = Schemas['CreateCommunityRequest'];
export type CreateChannelRequest = Schemas['CreateChannelRequest'];
export type Channel = Schemas['Channel'];
export type ChannelPage = Schemas['ChannelPage'];
export type Content = Schemas['Content'];
export type Reaction = Schemas['Reaction'];
export type Message = Schemas['Message'];
export type MessagePage = Schemas['MessagePage'];

/** Bounds of the WebSocket protocol (protocol `ws::limits`); a test checks them against the schema. */
export const WS_LIMITS = {
  TEXT_MAX_CHARS: 4000,
  CIPHERTEXT_MAX_BYTES: 64 * 1024,
  NONCE_MAX_BYTES: 64,
  EMOJI_MAX_BYTES: 100,
  REACTIONS_PER_MESSAGE: 20,
  NAME_MAX: 100,
  TOPIC_MAX: 1000,
  PAGE_MAX: 100,
} as const;

// ---- end-to-end keys and envelopes

/** A device's published identity. */
export type DeviceKeysJson = Schemas['DeviceKeys'];
/** Opaque device-to-device ciphertext. */
export type EnvelopeJson = Schemas['Envelope'];
export type NewEnvelopeJson = Schemas['NewEnvelope'];

// ---- every device of an account (docs/api.md, "Every device of an account")

export type AccountDevice = Schemas['AccountDevice'];
export type AccountDevices = Schemas['AccountDevices'];
export type PendingLinkJson = Schemas['PendingLink'];
export type PendingLinksJson = Schemas['PendingLinks'];
export type LinkAnswerJson = Schemas['LinkAnswer'];
export type SecretStorageJson = Schemas['SecretStorage'];
export type KeyBackupJson = Schemas['KeyBackup'];
export type StoredFile = Schemas['StoredFile'];
/** A stored file as the upload answers it: in a plaintext channel also its name and type. */
export type PlainStoredFile = StoredFile;
/** A file of a plaintext message, as the server lists it (`Message.attachments`). */
export type Attachment = Schemas['Attachment'];
export type FileUsage = Schemas['FileUsage'];
export type LinkPreview = Schemas['LinkPreview'];
/** A GIF found through the configured provider, and a page of them (`GET /gifs`). */
export type Gif = Schemas['Gif'];
export type GifPage = Schemas['GifPage'];
export type AppendedChunkJson = Schemas['AppendedChunk'];
export type BackupChunkPageJson = Schemas['BackupChunkPage'];

// ---- images (avatars, banners, community icons, custom emoji)

/** An image the server stored, by its reference (`GET /api/v1/images/{ref}` serves it to anyone). */
export type Image = Schemas['Image'];
export type ImageKind = Schemas['ImageKind'];

// ---- custom emoji (docs/api.md, "Custom emoji")

/** A community's custom emoji: `:name:` to people, `<:name:ref>` in messages and reactions. */
export type CustomEmoji = Schemas['CustomEmoji'];
export type CreateEmojiRequest = Schemas['CreateEmojiRequest'];
