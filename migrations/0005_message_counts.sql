-- Messages per user and UTC day: metadata only (who, which day, how many), never content. Counted
-- by the statement that stores a batch of envelopes (core/messaging/envelopes.ts), so a count and
-- its messages commit together. sent: messages the user sent (one per message, whatever the
-- number of devices it was sealed for); received: messages addressed to the user (one per message,
-- not one per device). No foreign key: users are never deleted, and the insert stays cheap.
CREATE TABLE message_counts (
  user_id  uuid    NOT NULL,
  day      date    NOT NULL,
  sent     integer NOT NULL DEFAULT 0,
  received integer NOT NULL DEFAULT 0,
  PRIMARY KEY (user_id, day)
);

-- Activity per user (core/admin/activity.ts) reads the entries a user's devices wrote
-- (device.auth_failed has the device as actor and no target).
CREATE INDEX audit_entries_actor_type_actor_id_idx ON audit_entries (actor_type, actor_id);
