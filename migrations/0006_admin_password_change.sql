-- A password that someone other than the administrator chose or saw (generated at creation by an
-- owner or the CLI, the first owner's printed one, a reset) must be changed at the next sign-in:
-- until then the session may only reach its own account routes (server/src/plugins/admin-auth.ts).
ALTER TABLE admins ADD COLUMN must_change_password boolean NOT NULL DEFAULT false;
