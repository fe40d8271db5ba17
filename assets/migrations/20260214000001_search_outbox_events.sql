-- The outbox table of the labs-009-v2 contract (CONTRACT.md §2), column for column.
CREATE TABLE IF NOT EXISTS search_outbox_events (
    id                    uuid PRIMARY KEY,
    entity_type           varchar(50)  NOT NULL,
    entity_id             uuid         NOT NULL,
    op                    varchar(20)  NOT NULL CHECK (op IN ('upsert', 'delete')),
    event_version         bigint       NOT NULL DEFAULT 0,
    created_at            timestamptz  NOT NULL DEFAULT now(),
    updated_at            timestamptz  NOT NULL DEFAULT now(),
    status                varchar(20)  NOT NULL DEFAULT 'pending'
                          CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    owner                 varchar(120),
    lease_until           timestamptz,
    attempts              integer      NOT NULL DEFAULT 0,
    next_retry_at         timestamptz,
    processed_at          timestamptz,
    processing_started_at timestamptz,
    error_reason          varchar(80),
    error                 text,
    traceparent           varchar(55),
    tracestate            text,
    replay_count          integer      NOT NULL DEFAULT 0,
    last_replayed_at      timestamptz,
    last_replayed_by      varchar(120),
    last_replayed_reason  text,
    CONSTRAINT search_outbox_events_id_is_not_entity CHECK (id <> entity_id)
);

-- The claim index: only rows a worker may claim are in it, so it stays small while
-- done rows accumulate (the claim must not slow down as history grows).
CREATE INDEX IF NOT EXISTS ix_search_outbox_events_claim
    ON search_outbox_events (status, next_retry_at, created_at)
    WHERE status IN ('pending', 'processing');

CREATE INDEX IF NOT EXISTS ix_search_outbox_events_entity
    ON search_outbox_events (entity_type, entity_id, event_version);

-- The projection source: the document an `upsert` indexes, written in the same
-- transaction as its outbox row.
CREATE TABLE IF NOT EXISTS search_index (
    entity_type   varchar(50)  NOT NULL,
    entity_id     uuid         NOT NULL,
    text          text         NOT NULL DEFAULT '',
    snippet       text,
    rank_score    double precision NOT NULL DEFAULT 0,
    event_version bigint       NOT NULL DEFAULT 0,
    updated_at    timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id)
);
