-- A database shaped the way upstream's own migrations leave it (CONTRACT.md §2a),
-- written from the facts read off a migrated database. Test fixture: it is not a
-- migration of ours and is never applied to a user's database.
--
-- What differs from drill-cockpit's own schema, on purpose:
--   * search_outbox_events: defaults only for created_at, updated_at, status, attempts;
--     `replay_count` is NOT NULL with no default; `id` has no default; no CHECKs.
--   * search_index: `id` is the primary key with no default; created_at and updated_at
--     are NOT NULL with no default; `library_id` exists; unique (entity_type, entity_id).
--   * none of drill-cockpit's partial claim indexes; upstream's plain ones instead.

CREATE TABLE search_outbox_events (
    id                    uuid                     NOT NULL,
    entity_type           character varying(50)    NOT NULL,
    entity_id             uuid                     NOT NULL,
    op                    character varying(20)    NOT NULL,
    event_version         bigint                   NOT NULL,
    created_at            timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at            timestamp with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
    status                character varying(20)    NOT NULL DEFAULT 'pending',
    owner                 character varying(120),
    lease_until           timestamp with time zone,
    attempts              integer                  NOT NULL DEFAULT 0,
    next_retry_at         timestamp with time zone,
    processed_at          timestamp with time zone,
    processing_started_at timestamp with time zone,
    error_reason          character varying(80),
    error                 text,
    traceparent           character varying(512),
    tracestate            text,
    replay_count          integer                  NOT NULL,
    last_replayed_at      timestamp with time zone,
    last_replayed_by      character varying(120),
    last_replayed_reason  text,
    CONSTRAINT search_outbox_events_pkey PRIMARY KEY (id)
);

CREATE INDEX ix_search_outbox_events_claim
    ON search_outbox_events (status, next_retry_at, lease_until, event_version);
CREATE INDEX ix_search_outbox_events_status ON search_outbox_events (status);
CREATE INDEX ix_search_outbox_events_owner ON search_outbox_events (owner);
CREATE INDEX ix_search_outbox_events_lease_until ON search_outbox_events (lease_until);
CREATE INDEX ix_search_outbox_events_next_retry_at ON search_outbox_events (next_retry_at);
CREATE INDEX ix_search_outbox_events_event_version ON search_outbox_events (event_version);
CREATE INDEX ix_search_outbox_events_entity ON search_outbox_events (entity_type, entity_id);
CREATE INDEX ix_search_outbox_events_status_reason ON search_outbox_events (status, error_reason);
CREATE INDEX ix_search_outbox_events_status_started
    ON search_outbox_events (status, processing_started_at);
CREATE INDEX ix_search_outbox_events_processed_at ON search_outbox_events (processed_at);

CREATE TABLE search_index (
    id            uuid                     NOT NULL,
    entity_type   character varying(50)    NOT NULL,
    entity_id     uuid                     NOT NULL,
    text          text                     NOT NULL,
    snippet       text,
    rank_score    double precision,
    created_at    timestamp with time zone NOT NULL,
    updated_at    timestamp with time zone NOT NULL,
    event_version bigint                   NOT NULL,
    library_id    uuid,
    CONSTRAINT search_index_pkey PRIMARY KEY (id),
    CONSTRAINT uq_search_index_entity UNIQUE (entity_type, entity_id)
);
