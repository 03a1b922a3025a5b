-- Whitelist (who may enroll and connect) and pools (who may exchange with whom): DESIGN §6.
CREATE TYPE whitelist_mode AS ENUM ('all', 'whitelist');
CREATE TYPE whitelist_kind AS ENUM ('user', 'team', 'business_area');

-- One row (id = 1): the organisation's settings.
CREATE TABLE org_settings (
  id             integer PRIMARY KEY,
  whitelist_mode whitelist_mode NOT NULL DEFAULT 'all'
);

CREATE TABLE whitelist_entries (
  id         uuid PRIMARY KEY,
  kind       whitelist_kind NOT NULL,
  value      varchar(256)   NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  created_by uuid REFERENCES admins (id) ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE UNIQUE INDEX whitelist_entries_kind_value_key ON whitelist_entries (kind, value);

CREATE TABLE pools (
  id         uuid PRIMARY KEY,
  name       varchar(128) NOT NULL,
  name_key   varchar(128) NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX pools_name_key_key ON pools (name_key);

CREATE TABLE pool_members (
  pool_id uuid NOT NULL REFERENCES pools (id) ON DELETE CASCADE ON UPDATE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE ON UPDATE CASCADE,
  PRIMARY KEY (pool_id, user_id)
);
CREATE INDEX pool_members_user_id_idx ON pool_members (user_id);
