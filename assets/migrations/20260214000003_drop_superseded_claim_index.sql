-- The first claim index (status, next_retry_at, created_at) is superseded by the two
-- partial indexes of migration 2. Every status change rewrites every index of the
-- row, so an unused index costs claim and finalize throughput for nothing.
DROP INDEX IF EXISTS ix_search_outbox_events_claim;
