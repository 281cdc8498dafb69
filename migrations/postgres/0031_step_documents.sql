-- The documents the workflow's steps make (the handover minutes, the confirmation letter, a
-- template of the office's own) are kept with the request's files under their template's name:
-- a kind is any such name, no longer one of three.
ALTER TABLE attachments DROP CONSTRAINT attachments_kind_check;
ALTER TABLE attachments ADD CONSTRAINT attachments_kind_check
    CHECK (kind ~ '^[a-z0-9_]{1,64}$');
