-- Bulk operations (docs/admin-api.md §11): one row per operation, and one per target user with
-- its outcome. The target set is written when the operation is created, so its total is fixed and
-- a restarted worker continues with the rows still pending.
CREATE TYPE bulk_action AS ENUM ('lock', 'unlock', 'offboard', 'invite', 'pool.add', 'pool.remove', 'whitelist.add', 'whitelist.remove');
CREATE TYPE bulk_state AS ENUM ('queued', 'running', 'done', 'failed');
CREATE TYPE bulk_outcome AS ENUM ('pending', 'ok', 'failed');

CREATE TABLE bulk_operations (
  id              uuid PRIMARY KEY,
  action          bulk_action  NOT NULL,
  state           bulk_state   NOT NULL DEFAULT 'queued',
  pool_id         uuid,
  total           integer      NOT NULL,
  succeeded       integer      NOT NULL DEFAULT 0,
  failed          integer      NOT NULL DEFAULT 0,
  created_by_type varchar(16)  NOT NULL,
  created_by_id   varchar(256) NOT NULL,
  source_ip       varchar(45),
  created_at      timestamptz(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  started_at      timestamptz(3),
  finished_at     timestamptz(3),
  error           varchar(512)
);
CREATE INDEX bulk_operations_created_at_idx ON bulk_operations (created_at);

CREATE TABLE bulk_results (
  operation_id          uuid NOT NULL REFERENCES bulk_operations (id) ON DELETE CASCADE ON UPDATE CASCADE,
  seq                   integer NOT NULL,
  user_id               uuid,
  username              varchar(64),
  -- invite of new users: the profile to create, cleared once the row is done
  new_user              jsonb,
  outcome               bulk_outcome NOT NULL DEFAULT 'pending',
  error_code            varchar(64),
  error_message         varchar(512),
  -- invite: the one-time token, kept only until it expires or is used (worker retention)
  enrollment_token      varchar(64),
  enrollment_expires_at timestamptz(3),
  PRIMARY KEY (operation_id, seq)
);
CREATE INDEX bulk_results_operation_id_outcome_seq_idx ON bulk_results (operation_id, outcome, seq);
CREATE INDEX bulk_results_enrollment_expires_at_idx ON bulk_results (enrollment_expires_at);
