-- Claim paths that stay index-ordered however large the table grows: the due
-- pending rows in creation order, and the expired leases in expiry order. (An OR of
-- both in one scan made Postgres sort every pending row on every claim.)
CREATE INDEX IF NOT EXISTS ix_search_outbox_events_pending_created
    ON search_outbox_events (created_at)
    WHERE status = 'pending';

CREATE INDEX IF NOT EXISTS ix_search_outbox_events_processing_lease
    ON search_outbox_events (lease_until)
    WHERE status = 'processing';
