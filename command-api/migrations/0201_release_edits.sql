-- Moderators' edits of releases, kept apart from the upstream rows so that imports
-- never erase them, and deletion as a tombstone so that imports never resurrect a
-- deleted release.

ALTER TABLE releases
    ADD COLUMN edits      jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN deleted_at timestamptz;
