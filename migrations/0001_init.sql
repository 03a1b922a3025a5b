-- Users, devices, enrollment tokens, and the store-and-forward tables for envelopes.
CREATE TYPE user_status AS ENUM ('invited', 'active', 'locked', 'offboarded');
CREATE TYPE device_state AS ENUM ('active', 'wipe_pending', 'wiped', 'revoked');
CREATE TYPE content_class AS ENUM ('text', 'image', 'video', 'audio', 'file');

CREATE TABLE users (
  id            uuid PRIMARY KEY,
  username      varchar(64)  NOT NULL,
  username_key  varchar(64)  NOT NULL,
  display_name  varchar(128) NOT NULL,
  email         varchar(254),
  team          varchar(128),
  business_area varchar(128),
  external_id   varchar(256),
  status        user_status  NOT NULL DEFAULT 'invited',
  created_at    timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_seen_at  timestamptz(3)
);
CREATE UNIQUE INDEX users_username_key_key ON users (username_key);
CREATE UNIQUE INDEX users_external_id_key ON users (external_id);

CREATE TABLE devices (
  id                 uuid PRIMARY KEY,
  user_id            uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE,
  x25519_public_key  bytea NOT NULL,
  ed25519_public_key bytea NOT NULL,
  platform           varchar(32) NOT NULL,
  name               varchar(128),
  push_token         varchar(4096),
  state              device_state NOT NULL DEFAULT 'active',
  enrolled_at        timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_seen_at       timestamptz(3)
);
CREATE UNIQUE INDEX devices_ed25519_public_key_key ON devices (ed25519_public_key);
CREATE INDEX devices_user_id_idx ON devices (user_id);

CREATE TABLE enrollment_tokens (
  id         uuid PRIMARY KEY,
  user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE,
  token_hash bytea NOT NULL,
  expires_at timestamptz(3) NOT NULL,
  used_at    timestamptz(3),
  created_at timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX enrollment_tokens_token_hash_key ON enrollment_tokens (token_hash);
CREATE INDEX enrollment_tokens_user_id_idx ON enrollment_tokens (user_id);

CREATE TABLE envelopes (
  id                uuid PRIMARY KEY,
  sender_user_id    uuid NOT NULL,
  sender_device_id  uuid NOT NULL,
  client_message_id varchar(64) NOT NULL,
  recipient_user_id uuid NOT NULL,
  content_class     content_class NOT NULL,
  body              bytea NOT NULL,
  created_at        timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX envelopes_sender_device_id_client_message_id_key ON envelopes (sender_device_id, client_message_id);
CREATE INDEX envelopes_created_at_idx ON envelopes (created_at);

CREATE TABLE deliveries (
  id          bigserial PRIMARY KEY,
  envelope_id uuid NOT NULL REFERENCES envelopes (id) ON DELETE CASCADE ON UPDATE CASCADE,
  device_id   uuid NOT NULL REFERENCES devices (id) ON DELETE CASCADE ON UPDATE CASCADE,
  sealed_key  bytea NOT NULL,
  created_at  timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX deliveries_envelope_id_device_id_key ON deliveries (envelope_id, device_id);
CREATE INDEX deliveries_device_id_id_idx ON deliveries (device_id, id);
