-- search_index gains the columns upstream's table has (CONTRACT.md §2a): its own `id`,
-- `created_at` and `library_id`. Every write of drill-cockpit sets id, created_at and
-- updated_at explicitly, so the same statement works on upstream's table (where they
-- have no default) and on this one. The primary key stays (entity_type, entity_id):
-- upstream's unique constraint on those columns is what ON CONFLICT targets.
ALTER TABLE search_index ADD COLUMN IF NOT EXISTS id uuid;
ALTER TABLE search_index ADD COLUMN IF NOT EXISTS created_at timestamptz;
ALTER TABLE search_index ADD COLUMN IF NOT EXISTS library_id uuid;
UPDATE search_index SET id = gen_random_uuid() WHERE id IS NULL;
UPDATE search_index SET created_at = updated_at WHERE created_at IS NULL;
ALTER TABLE search_index ALTER COLUMN id SET NOT NULL;
ALTER TABLE search_index ALTER COLUMN created_at SET NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS uq_search_index_id ON search_index (id);
