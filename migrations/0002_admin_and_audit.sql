-- Administrator accounts, API tokens, and the append-only, hash-chained audit log.
CREATE TYPE admin_role AS ENUM ('owner', 'admin', 'helpdesk', 'auditor');

CREATE TABLE admins (
  id            uuid PRIMARY KEY,
  username      varchar(64)  NOT NULL,
  username_key  varchar(64)  NOT NULL,
  display_name  varchar(128) NOT NULL,
  role          admin_role   NOT NULL,
  password_hash varchar(512) NOT NULL,
  totp_secret   varchar(64),
  failed_logins integer      NOT NULL DEFAULT 0,
  locked_until  timestamptz(3),
  disabled      boolean      NOT NULL DEFAULT false,
  created_at    timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  last_login_at timestamptz(3)
);
CREATE UNIQUE INDEX admins_username_key_key ON admins (username_key);

CREATE TABLE api_tokens (
  id           uuid PRIMARY KEY,
  name         varchar(128) NOT NULL,
  token_hash   bytea  NOT NULL,
  scopes       text[] NOT NULL,
  created_by   uuid   NOT NULL REFERENCES admins (id) ON DELETE RESTRICT ON UPDATE CASCADE,
  created_at   timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires_at   timestamptz(3),
  last_used_at timestamptz(3),
  revoked_at   timestamptz(3)
);
CREATE UNIQUE INDEX api_tokens_token_hash_key ON api_tokens (token_hash);
CREATE INDEX api_tokens_created_by_idx ON api_tokens (created_by);

CREATE TABLE audit_entries (
  seq         bigint PRIMARY KEY,
  at          timestamptz(3) NOT NULL,
  actor_type  varchar(16) NOT NULL,
  actor_id    varchar(256),
  action      varchar(64) NOT NULL,
  target_type varchar(32),
  target_id   varchar(256),
  source_ip   varchar(45),
  details     jsonb NOT NULL DEFAULT '{}',
  prev_hash   bytea NOT NULL,
  hash        bytea NOT NULL
);
CREATE INDEX audit_entries_at_idx ON audit_entries (at);
CREATE INDEX audit_entries_target_type_target_id_idx ON audit_entries (target_type, target_id);

-- The log is append-only for every role, the owner of the table included.
CREATE FUNCTION mvm_audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_entries is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_entries_no_update BEFORE UPDATE OR DELETE ON audit_entries
  FOR EACH ROW EXECUTE FUNCTION mvm_audit_entries_append_only();
CREATE TRIGGER audit_entries_no_truncate BEFORE TRUNCATE ON audit_entries
  FOR EACH STATEMENT EXECUTE FUNCTION mvm_audit_entries_append_only();
