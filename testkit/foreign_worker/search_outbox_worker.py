#!/usr/bin/env python3
"""TEST DOUBLE — not a product, never shipped.

A small search-outbox worker in Python that honours the labs-009-v2 contract
(CONTRACT.md §2–§5) and reproduces the documented behaviour of upstream's real
Python worker (CONTRACT.md §7), so drill-cockpit's tests drive a worker that is not
its own. What it imitates on purpose:

* JSON log lines on stderr; ERROR lines carry the Python traceback in `exc_info`
  (one line of about 5 KB); its only stdout line is the database URL *with* the
  password; an INFO `outbox.claim_batch` line on every poll (~200 ms), even empty.
* `LOG_LEVEL=WARNING` hides every INFO line, the schema marker included.
* `reason` series appear only after their first increment (children pre-created
  with reason="none" only).
* `OUTBOX_BULK_SIZE` takes precedence over `OUTBOX_BATCH_SIZE` for the claim size.
* a delete answered 404 is a success, `outbox_idempotent_noop_total{reason="es_404"}`,
  an INFO line `Outbox delete: doc <id> not found in ES (noop)`, and the HTTP client's
  child span has status ERROR while `outbox.process` has result=ok.
* claims in `event_version` order; refuses to start without WORDLOOM_ENV; exits 1
  when its metrics or health port is taken or the database is down at start;
  SIGTERM → `Stop requested; draining current work only`, exit 0 within a second.
* tracing is opt-in (WORDLOOM_TRACING_ENABLED=1); the collector is probed once at
  start and every span is dropped when it was not up; spans are exported about
  every 5 s (uncompressed OTLP/HTTP protobuf) and flushed at exit.

Behaviour switch: `FOREIGN_WORKER_BEHAVIOUR`
--------------------------------------------
Unset, or any value but `legacy`: the double behaves like upstream's real worker
(`backend/scripts/legacy/search_outbox_worker.py`, CONTRACT.md §7 "Read in the real
worker's code"). `FOREIGN_WORKER_BEHAVIOUR=legacy` keeps this double's earlier,
idealised behaviour, unchanged. The differences (default / legacy):

1. ES document id: `f"{entity_type}:{entity_id}"` (e.g. `block:<uuid>`) for upserts,
   deletes and bulk items alike / the bare entity id. The `_source` is the same in
   both modes (its `entity_id` is the bare id).
2. Writes carry no version: `PUT /<index>/_doc/<id>` of the entity's *current*
   `search_index` row and `DELETE /<index>/_doc/<id>`, no query string, and no
   `version`/`version_type` in `_bulk` action lines; ES never answers 409, so
   `idempotent_noop{reason="es_409"}` never moves (a 409 would be an es_4xx
   failure) / `?version=N&version_type=external` on both, and a 409 is an
   `es_409` no-op. A delete answered 404 is a success plus `es_404` in both modes.
3. Bulk mode (`OUTBOX_USE_ES_BULK=1`): `projection.process_batch` has the children
   `outbox.bulk.prepare` and `outbox.bulk.send` (the `_bulk` HTTP span below the
   latter), no log line of the batch carries `outbox_event_id` (only
   `claim_batch_id`), and the batch span's `result` is set while it is open from the
   HTTP answer alone (`ok` even for a partial bulk; `failed` when the request
   failed); its result/reason/counts are set again after it ended, which the
   OpenTelemetry SDK ignores with one WARNING `Setting attribute on ended span.`
   (logger `opentelemetry.sdk.trace`; only when spans are recorded) / no child
   spans, `outbox_event_id` on the batch's ERROR and WARNING lines, the batch span's
   result (ok/partial/retry/failed) set before it ends. The claim's INFO line reads
   `outbox.claim_batch claimed: N` / `outbox.claim_batch`; both carry the fields
   `claimed` and `claim_batch_id`.
4. Lost lease: the row is reloaded before the ES call (gone or already processed:
   skipped; owner not this worker: `outbox_owner_mismatch_skips_total` +1 and
   skipped; lease expired: left to the reclaim) and the finalize is
   `UPDATE … WHERE id AND owner = me AND status = 'processing' AND lease_until > now()`
   whose result is not looked at: a lease lost during the ES call still counts the
   attempt (`outbox_processed_total`, or the failure counters), with no mismatch
   skip and no log line / no reload before the ES call; the finalize is fenced on
   (id, owner, attempts, status) and, when it matches nothing, counts
   `outbox_owner_mismatch_skips_total`, logs `Outbox finalize skipped: lease lost
   (owner mismatch)` and counts nothing else. Either way the row is finalized
   once, by whoever holds it.
5. Queue gauges: `outbox_lag_events` and `outbox_oldest_age_seconds` count
   `pending`, `processing` and `failed` rows with no `processed_at` (failed rows left
   by earlier drills keep them up) / `pending` + `processing` rows, and the oldest
   `pending` row.

Upstream's in-worker fault switches
-----------------------------------
The environment variables upstream's lab tooling sets for its drills B, D, E and F,
all off by default, in both behaviour modes; each one that is on logs one `[LABS]`
WARNING at start, right after the schema marker.

* B, ES 429: `OUTBOX_EXPERIMENT_ES_429_EVERY_N` (N >= 1: every Nth per-event ES call
  of an op in `OUTBOX_EXPERIMENT_ES_429_OPS` fails) or, when that is unset or 0,
  `OUTBOX_EXPERIMENT_ES_429_RATIO` (each such call fails with that probability, from
  an RNG seeded with `OUTBOX_EXPERIMENT_ES_429_SEED`). `OPS` is a comma list of
  `upsert`, `delete` (default both). The call fails as if ES had answered 429, but
  nothing is sent: reason `es_429`, a retry with backoff, the `retry_scheduled` and
  `failed` counters, the ERROR line, the `outbox.process` span's ERROR status (no
  HTTP span, since there was no request). Per-event mode only; `_bulk` is untouched.
  `[LABS] OUTBOX_EXPERIMENT_ES_429 enabled: every_n=1, ratio=0, ops=upsert,delete`.
* D, bulk partial: `OUTBOX_EXPERIMENT_ES_BULK_PARTIAL=1`, with
  `OUTBOX_EXPERIMENT_ES_BULK_PARTIAL_STATUS` (default 400). In bulk mode, when the real
  `_bulk` answer has two items or more (as upstream requires), item 0 is rewritten to
  that status with an ES-shaped `error` object and the answer gets `errors: true`;
  then it is settled as usual (a 400 leaves that row terminal failed `es_4xx`, the
  others done, the request counted `partial`).
  `[LABS] OUTBOX_EXPERIMENT_ES_BULK_PARTIAL enabled: status=400`.
* E, broken claim: `OUTBOX_EXPERIMENT_BREAK_CLAIM=1`, with
  `OUTBOX_EXPERIMENT_BREAK_CLAIM_SLEEP_SECONDS` (default 0.2). The claim SELECTs the
  candidates without `FOR UPDATE SKIP LOCKED`, sleeps, then UPDATEs them by id with
  no owner guard (only `processed_at IS NULL`, so a row another worker already
  finished stays finished), so two workers both claim the same rows. The loser is
  caught by the ownership check before the ES call (default mode:
  `outbox_owner_mismatch_skips_total` +1 and a skip; like upstream, at most one
  WARNING `[LABS] Skipped N outbox events due to owner mismatch ...` every 5 s) or
  by the fenced finalize (legacy mode).
  `[LABS] OUTBOX_EXPERIMENT_BREAK_CLAIM enabled: claim is non-atomic (no row lock) with 0.200s delay`.
* F (and E), process sleep: `OUTBOX_EXPERIMENT_PROCESS_SLEEP_SECONDS`: after a claim
  that took rows, the worker sleeps that long before processing them (SIGTERM cuts
  the sleep short; the batch is still processed).
  `[LABS] OUTBOX_EXPERIMENT_PROCESS_SLEEP_SECONDS enabled: sleeping 4.000s after claim before processing`.
"""

import json
import logging
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import psycopg
import requests
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

OBS_SCHEMA = "labs-009-v2"
PROJECTION = "search_index_to_elastic"


def env(name, default=None):
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def flag(name):
    return env(name, "0").strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------- logs


class JsonFormatter(logging.Formatter):
    """One JSON object per line, the contract's keys first, extras after."""

    def format(self, record):
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "trace_id": getattr(record, "trace_id", None),
            "span_id": getattr(record, "span_id", None),
        }
        for key, value in getattr(record, "fields", {}).items():
            line[key] = value
        if record.exc_info:
            line["exc_info"] = "".join(traceback.format_exception(*record.exc_info))
        return json.dumps(line, default=str)


log = logging.getLogger("wordloom.search_outbox_worker")


def setup_logging():
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(env("LOG_LEVEL", "INFO").upper())
    # The HTTP client's own debug chatter is not the worker's log.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def emit(level, message, exc_info=None, span=None, **fields):
    extra = {"fields": fields}
    if span is not None and span.get_span_context().is_valid:
        context = span.get_span_context()
        extra["trace_id"] = format(context.trace_id, "032x")
        extra["span_id"] = format(context.span_id, "016x")
    log.log(level, message, exc_info=exc_info, extra=extra)


# ---------------------------------------------------------------------------- config


class Config:
    def __init__(self):
        self.database_url = env("DATABASE_URL", "postgresql+psycopg://wordloom:wordloom@localhost:5435/wordloom_test")
        self.elastic_url = env("ELASTIC_URL", "http://localhost:9200").rstrip("/")
        self.index = env("ELASTIC_INDEX", "wordloom-test-search-index")
        self.worker_id = env("OUTBOX_WORKER_ID", "w-labs009-expA")
        self.metrics_port = int(env("OUTBOX_METRICS_PORT", "9109"))
        self.http_port = int(env("OUTBOX_HTTP_PORT", "9111"))
        # Upstream's rule: the bulk size, when set, is the claim size.
        self.batch_size = int(env("OUTBOX_BULK_SIZE", env("OUTBOX_BATCH_SIZE", "10")))
        self.use_bulk = env("OUTBOX_USE_ES_BULK", "0") in ("1", "true", "yes")
        self.lease = float(env("OUTBOX_LEASE_SECONDS", "30"))
        self.max_attempts = int(env("OUTBOX_MAX_ATTEMPTS", "10"))
        self.base_backoff = float(env("OUTBOX_BASE_BACKOFF_SECONDS", "1"))
        self.max_backoff = float(env("OUTBOX_MAX_BACKOFF_SECONDS", "60"))
        self.poll = float(env("OUTBOX_POLL_INTERVAL_MS", "200")) / 1000.0
        self.reclaim_every = float(env("OUTBOX_RECLAIM_INTERVAL_SECONDS", "5"))
        self.max_processing = float(env("OUTBOX_MAX_PROCESSING_SECONDS", "60"))
        self.concurrency = max(1, int(env("OUTBOX_CONCURRENCY", "4")))
        self.es_timeout = float(env("OUTBOX_ES_TIMEOUT_SECONDS", "5"))
        self.tracing = env("WORDLOOM_TRACING_ENABLED", "0") == "1"
        self.otlp = env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318").rstrip("/")
        # See the module docstring: anything but "legacy" is upstream's real behaviour.
        self.legacy = env("FOREIGN_WORKER_BEHAVIOUR") == "legacy"
        # Upstream's in-worker fault switches (module docstring); all off by default.
        self.es_429_every_n = max(0, int(env("OUTBOX_EXPERIMENT_ES_429_EVERY_N", "0")))
        self.es_429_ratio = min(1.0, max(0.0, float(env("OUTBOX_EXPERIMENT_ES_429_RATIO", "0"))))
        seed = env("OUTBOX_EXPERIMENT_ES_429_SEED")
        self.es_429_seed = None if seed is None else int(seed)
        ops = {op.strip().lower() for op in env("OUTBOX_EXPERIMENT_ES_429_OPS", "").split(",") if op.strip()}
        self.es_429_ops = ops or {"upsert", "delete"}
        self.bulk_partial = flag("OUTBOX_EXPERIMENT_ES_BULK_PARTIAL")
        self.bulk_partial_status = int(env("OUTBOX_EXPERIMENT_ES_BULK_PARTIAL_STATUS", "400"))
        self.break_claim = flag("OUTBOX_EXPERIMENT_BREAK_CLAIM")
        self.break_claim_sleep = max(0.0, float(env("OUTBOX_EXPERIMENT_BREAK_CLAIM_SLEEP_SECONDS", "0.2")))
        self.process_sleep = max(0.0, float(env("OUTBOX_EXPERIMENT_PROCESS_SLEEP_SECONDS", "0")))

    def announce_fault_switches(self):
        """One `[LABS]` WARNING per fault switch that is on, worded like upstream's."""
        if self.es_429_every_n or self.es_429_ratio:
            ops = [op for op in ("upsert", "delete") if op in self.es_429_ops] + sorted(self.es_429_ops - {"upsert", "delete"})
            emit(
                logging.WARNING,
                f"[LABS] OUTBOX_EXPERIMENT_ES_429 enabled: every_n={self.es_429_every_n}, ratio={self.es_429_ratio:g}, ops={','.join(ops)}",
                seed=self.es_429_seed,
            )
        if self.bulk_partial:
            emit(logging.WARNING, f"[LABS] OUTBOX_EXPERIMENT_ES_BULK_PARTIAL enabled: status={self.bulk_partial_status}")
        if self.break_claim:
            emit(logging.WARNING, f"[LABS] OUTBOX_EXPERIMENT_BREAK_CLAIM enabled: claim is non-atomic (no row lock) with {self.break_claim_sleep:.3f}s delay")
        if self.process_sleep > 0:
            emit(logging.WARNING, f"[LABS] OUTBOX_EXPERIMENT_PROCESS_SLEEP_SECONDS enabled: sleeping {self.process_sleep:.3f}s after claim before processing")

    def psycopg_url(self):
        url = self.database_url
        for prefix in ("postgresql+psycopg://", "postgresql+psycopg2://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql://" + url[len(prefix):]
        return url


# ---------------------------------------------------------------------------- metrics


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        labels = ["projection", "op", "reason"]
        r = self.registry
        self.processed = Counter("outbox_processed", "events projected", ["projection", "op"], registry=r)
        self.failed = Counter("outbox_failed", "failed attempts", labels, registry=r)
        self.retry = Counter("outbox_retry_scheduled", "rescheduled attempts", labels, registry=r)
        self.terminal = Counter("outbox_terminal_failed", "terminal failures", labels, registry=r)
        self.noop = Counter("outbox_idempotent_noop", "no-op successes", labels, registry=r)
        self.mismatch = Counter("outbox_owner_mismatch_skips", "finalizes skipped: lease lost", ["projection"], registry=r)
        self.reclaimed = Counter("outbox_reclaimed", "expired leases reclaimed", ["projection"], registry=r)
        self.bulk_requests = Counter("outbox_es_bulk_requests", "bulk requests", ["projection", "result"], registry=r)
        self.bulk_items = Counter("outbox_es_bulk_items", "bulk items", ["projection", "op", "result"], registry=r)
        self.bulk_item_failures = Counter("outbox_es_bulk_item_failures", "bulk item failures", ["projection", "op", "failure_class"], registry=r)
        self.bulk_duration = Histogram("outbox_es_bulk_request_duration_seconds", "bulk latency", ["projection"], registry=r)
        self.lag = Gauge("outbox_lag_events", "pending + processing", ["projection"], registry=r)
        self.oldest = Gauge("outbox_oldest_age_seconds", "oldest pending age", ["projection"], registry=r)
        self.inflight = Gauge("outbox_inflight_events", "processing rows", ["projection"], registry=r)
        self.stuck = Gauge("outbox_stuck_processing_events", "rows processing too long", ["projection"], registry=r)
        self.last_success = Gauge("outbox_last_success_timestamp_seconds", "last success", ["projection"], registry=r)
        # Upstream pre-creates only the reason="none" children.
        for op in ("upsert", "delete"):
            self.processed.labels(PROJECTION, op)
            for counter in (self.failed, self.retry, self.terminal, self.noop):
                counter.labels(PROJECTION, op, "none")
        self.mismatch.labels(PROJECTION)


# ---------------------------------------------------------------------------- tracing


class NoSpan:
    """What a span is when tracing is off or the collector was down at start."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def set_attribute(self, *args):
        pass

    def set_attributes(self, *args):
        pass

    def set_status(self, *args):
        pass

    def record_exception(self, *args):
        pass

    def get_span_context(self):
        from opentelemetry.trace import INVALID_SPAN_CONTEXT

        return INVALID_SPAN_CONTEXT


class Tracing:
    def __init__(self, config):
        self.provider = None
        self.tracer = None
        if not config.tracing:
            emit(logging.INFO, "tracing disabled", event="tracing.disabled")
            return
        parsed = urlparse(config.otlp)
        try:
            socket.create_connection((parsed.hostname, parsed.port or 4318), timeout=1).close()
        except OSError as error:
            # Like upstream: one probe at start; a collector that was down drops every span.
            emit(logging.WARNING, f"tracing collector unreachable at {config.otlp}: {error}; spans dropped for this run", event="tracing.disabled")
            return
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create({"service.name": env("OTEL_SERVICE_NAME", "wordloom-search-outbox-worker")})
        self.provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=f"{config.otlp}/v1/traces")
        self.provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=5000))
        self.tracer = self.provider.get_tracer("wordloom.search_outbox_worker")
        self.trace = trace
        emit(logging.INFO, "tracing configured", event="tracing.config", endpoint=config.otlp, obs_schema=OBS_SCHEMA)

    def span(self, name, parent=None, attributes=None):
        if self.tracer is None:
            return NoSpan()
        context = self.trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_as_current_span(name, context=context, attributes=attributes or {}, end_on_exit=True)

    def error(self, span, description):
        if self.tracer is not None:
            span.set_status(self.trace.Status(self.trace.StatusCode.ERROR, description))

    def shutdown(self):
        if self.provider is not None:
            self.provider.force_flush(5000)
            self.provider.shutdown()


# ---------------------------------------------------------------------------- ES


class EsFailure(Exception):
    def __init__(self, reason, message, terminal=False):
        super().__init__(message)
        self.reason = reason
        self.terminal = terminal


def classify_status(status):
    if status == 429:
        return EsFailure("es_429", "Elasticsearch answered 429 Too Many Requests")
    if status >= 500:
        return EsFailure("es_5xx", f"Elasticsearch answered {status}")
    return EsFailure("es_4xx", f"Elasticsearch answered {status}", terminal=True)


def es_call(session, config, tracing, method, path, **kwargs):
    """One ES request with its client span; connection errors raise EsFailure chained
    to the requests exception (so the traceback is the real, long one)."""
    with tracing.span(f"HTTP {method}", attributes={"http.method": method, "http.url": config.elastic_url + path}) as span:
        try:
            response = session.request(method, config.elastic_url + path, timeout=config.es_timeout, **kwargs)
        except requests.exceptions.Timeout as error:
            tracing.error(span, "timeout")
            raise EsFailure("es_timeout", f"Elasticsearch timed out: {error}") from error
        except requests.exceptions.ConnectionError as error:
            tracing.error(span, "connection error")
            raise EsFailure("es_connect", f"cannot connect to Elasticsearch: {error}") from error
        span.set_attribute("http.status_code", response.status_code)
        if response.status_code >= 400:
            # Like an instrumented HTTP client: every 4xx/5xx is an ERROR span, 404 too.
            tracing.error(span, f"HTTP {response.status_code}")
        return response


class Es429Injector:
    """Drill B's switch: decides, per ES call of one event, whether it fails as a 429
    that was never sent. Shared by the pool's threads, hence the lock."""

    def __init__(self, config):
        self.every_n = config.es_429_every_n
        self.ratio = config.es_429_ratio
        self.ops = config.es_429_ops
        self.rng = random.Random(config.es_429_seed)
        self.calls = 0
        self.lock = threading.Lock()

    def fires(self, op):
        if not (self.every_n or self.ratio) or op not in self.ops:
            return False
        with self.lock:
            if self.every_n:
                self.calls += 1
                return self.calls % self.every_n == 0
            return self.rng.random() < self.ratio


# ---------------------------------------------------------------------------- worker


class Worker:
    def __init__(self, config, metrics, tracing):
        self.config = config
        self.metrics = metrics
        self.tracing = tracing
        self.stop = threading.Event()
        self.db = None
        self.http = requests.Session()
        self.pool = ThreadPoolExecutor(max_workers=config.concurrency)
        self.last_reclaim = 0.0
        self.last_gauges = 0.0
        self.inject_429 = Es429Injector(config)
        # Drill E: upstream's throttled summary of owner-mismatch skips.
        self.mismatch_lock = threading.Lock()
        self.mismatch_skips = 0
        self.mismatch_logged_at = None

    def connect(self):
        self.db = psycopg.connect(self.config.psycopg_url(), autocommit=True, connect_timeout=5)

    # -- SQL ------------------------------------------------------------------

    def claim(self):
        if self.config.break_claim:
            return self.claim_non_atomic()
        with self.db.cursor() as cur:
            cur.execute(
                """
                WITH c AS (
                    SELECT id FROM search_outbox_events
                    WHERE status = 'pending' AND (next_retry_at IS NULL OR next_retry_at <= now())
                    ORDER BY event_version, created_at
                    LIMIT %s FOR UPDATE SKIP LOCKED
                )
                UPDATE search_outbox_events e
                SET status = 'processing', owner = %s, lease_until = now() + make_interval(secs => %s),
                    processing_started_at = now(), attempts = e.attempts + 1, updated_at = now()
                FROM c WHERE e.id = c.id
                RETURNING e.id, e.entity_type, e.entity_id, e.op, e.event_version, e.attempts
                """,
                (self.config.batch_size, self.config.worker_id, self.config.lease),
            )
            rows = cur.fetchall()
        return [dict(zip(("id", "entity_type", "entity_id", "op", "event_version", "attempts"), row)) for row in rows]

    def claim_non_atomic(self):
        """Drill E's broken claim: SELECT without a row lock, sleep, then UPDATE by id with
        no owner guard, so two workers that read the same candidates both claim them
        and the later UPDATE wins. `processed_at IS NULL` only keeps a row that another
        worker already finished from being claimed again."""
        with self.db.cursor() as cur:
            cur.execute(
                """SELECT id FROM search_outbox_events
                   WHERE status = 'pending' AND (next_retry_at IS NULL OR next_retry_at <= now())
                   ORDER BY event_version, created_at LIMIT %s""",
                (self.config.batch_size,),
            )
            ids = [row[0] for row in cur.fetchall()]
            if not ids:
                return []
            if self.config.break_claim_sleep > 0:
                self.stop.wait(self.config.break_claim_sleep)
            cur.execute(
                """
                UPDATE search_outbox_events
                SET status = 'processing', owner = %s, lease_until = now() + make_interval(secs => %s),
                    processing_started_at = now(), attempts = attempts + 1, updated_at = now()
                WHERE id = ANY(%s) AND processed_at IS NULL
                RETURNING id, entity_type, entity_id, op, event_version, attempts
                """,
                (self.config.worker_id, self.config.lease, ids),
            )
            rows = cur.fetchall()
        order = {event_id: n for n, event_id in enumerate(ids)}
        rows.sort(key=lambda row: order[row[0]])
        return [dict(zip(("id", "entity_type", "entity_id", "op", "event_version", "attempts"), row)) for row in rows]

    def reclaim(self):
        with self.db.cursor() as cur:
            cur.execute(
                """UPDATE search_outbox_events SET status = 'pending', owner = NULL, lease_until = NULL, updated_at = now()
                   WHERE status = 'processing' AND lease_until < now() RETURNING id"""
            )
            count = len(cur.fetchall())
        if count:
            self.metrics.reclaimed.labels(PROJECTION).inc(count)
            emit(logging.WARNING, f"Reclaimed {count} stuck outbox events (lease expired)", reclaimed=count)

    def doc_id(self, event):
        """The ES `_id` of an event's entity: upstream's `_es_doc_id` (type:id), or the
        bare entity id in legacy mode."""
        if self.config.legacy:
            return str(event["entity_id"])
        return f"{event['entity_type']}:{event['entity_id']}"

    def event_fields(self, event):
        """The per-event log field; upstream's bulk path logs none (claim_batch_id only)."""
        if not self.config.legacy and self.config.use_bulk:
            return {}
        return {"outbox_event_id": str(event["id"])}

    def still_mine(self, event):
        """Upstream's reload before the ES call (not in legacy mode): None when the claim
        still holds, else why the event is skipped. Only an owner mismatch is counted."""
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT status, owner, lease_until > now(), processed_at IS NOT NULL FROM search_outbox_events WHERE id = %s",
                (event["id"],),
            )
            row = cur.fetchone()
        if row is None or row[3]:
            return "gone"
        status, owner, leased, _ = row
        if status != "processing" or owner != self.config.worker_id:
            if owner != self.config.worker_id:
                self.metrics.mismatch.labels(PROJECTION).inc()
                if self.config.break_claim:
                    self.log_mismatch_skip(event, owner)
            return "owner_mismatch"
        if not leased:
            # Lease expired: left to the reclaim, nothing counted.
            return "lease_expired"
        return None

    def log_mismatch_skip(self, event, owner):
        """Upstream, with the claim broken: at most one WARNING every 5 s summing up the
        owner-mismatch skips so far, with the latest one's event id and owner."""
        with self.mismatch_lock:
            self.mismatch_skips += 1
            now = time.monotonic()
            if self.mismatch_logged_at is not None and now - self.mismatch_logged_at < 5.0:
                return
            self.mismatch_logged_at = now
            count = self.mismatch_skips
        emit(
            logging.WARNING,
            f"[LABS] Skipped {count} outbox events due to owner mismatch (race / lost claim). Latest: id={event['id']} owner={owner}",
            outbox_event_id=str(event["id"]),
        )

    def source_row(self, event):
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT text, snippet, rank_score, event_version, updated_at FROM search_index WHERE entity_type = %s AND entity_id = %s",
                (event["entity_type"], event["entity_id"]),
            )
            return cur.fetchone()

    def finalize(self, event, status, reason=None, error=None, delay=None):
        """Legacy: fenced on (id, owner, attempts): the claim's attempts is its token, so a
        stale claim (lease lost and re-claimed, even by this worker) changes nothing, and
        a finalize that matched nothing is a counted skip. Default (upstream): fenced on
        (id, owner, status, lease_until > now()), and the row count is not looked at."""
        if self.config.legacy:
            fence, fence_params = "attempts = %s AND status = 'processing'", (event["attempts"],)
        else:
            fence, fence_params = "status = 'processing' AND lease_until > now()", ()
        with self.db.cursor() as cur:
            if status == "done":
                cur.execute(
                    """UPDATE search_outbox_events SET status = 'done', processed_at = now(), owner = NULL, lease_until = NULL,
                       error_reason = NULL, error = NULL, next_retry_at = NULL, updated_at = now()
                       WHERE id = %s AND owner = %s AND """ + fence,
                    (event["id"], self.config.worker_id) + fence_params,
                )
            else:
                cur.execute(
                    """UPDATE search_outbox_events SET status = %s, owner = NULL, lease_until = NULL, error_reason = %s,
                       error = %s, next_retry_at = CASE WHEN %s::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => %s::float8) END,
                       updated_at = now()
                       WHERE id = %s AND owner = %s AND """ + fence,
                    (status, reason, error, delay, delay, event["id"], self.config.worker_id) + fence_params,
                )
            if not self.config.legacy:
                # Upstream commits and counts whatever the UPDATE matched.
                return True
            if cur.rowcount == 0:
                self.metrics.mismatch.labels(PROJECTION).inc()
                emit(logging.WARNING, "Outbox finalize skipped: lease lost (owner mismatch)", outbox_event_id=str(event["id"]))
                return False
        return True

    def gauges(self):
        with self.db.cursor() as cur:
            if self.config.legacy:
                cur.execute(
                    """SELECT count(*) FILTER (WHERE status IN ('pending', 'processing')),
                              extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')),
                              count(*) FILTER (WHERE status = 'processing'),
                              count(*) FILTER (WHERE status = 'processing' AND processing_started_at < now() - make_interval(secs => %s))
                       FROM search_outbox_events WHERE status IN ('pending', 'processing')""",
                    (self.config.max_processing,),
                )
            else:
                # Upstream: lag and oldest age count every unprocessed row, terminal failed ones too.
                cur.execute(
                    """SELECT count(*),
                              greatest(0, extract(epoch FROM now() - min(created_at))),
                              count(*) FILTER (WHERE status = 'processing'),
                              count(*) FILTER (WHERE status = 'processing' AND processing_started_at < now() - make_interval(secs => %s))
                       FROM search_outbox_events WHERE processed_at IS NULL AND status IN ('pending', 'processing', 'failed')""",
                    (self.config.max_processing,),
                )
            lag, oldest, inflight, stuck = cur.fetchone()
        self.metrics.lag.labels(PROJECTION).set(lag or 0)
        self.metrics.oldest.labels(PROJECTION).set(float(oldest or 0))
        self.metrics.inflight.labels(PROJECTION).set(inflight or 0)
        self.metrics.stuck.labels(PROJECTION).set(stuck or 0)

    # -- one event ------------------------------------------------------------

    def project(self, event, batch_span, batch_id):
        """Runs in the pool: the ES call of one event. Returns (outcome, detail)."""
        attributes = {
            "wordloom.outbox_event_id": str(event["id"]),
            "wordloom.entity_type": event["entity_type"],
            "wordloom.entity_id": str(event["entity_id"]),
            "wordloom.outbox_op": event["op"],
            "wordloom.outbox_event_version": int(event["event_version"]),
            "wordloom.outbox_attempts": int(event["attempts"]),
            "wordloom.es_index": self.config.index,
            "wordloom.obs_schema": OBS_SCHEMA,
            "wordloom.claim_batch_id": batch_id,
        }
        with self.tracing.span("outbox.process", parent=batch_span, attributes=attributes) as span:
            if not self.config.legacy:
                # Upstream checks ownership before the ES call, and only then.
                lost = self.still_mine(event)
                if lost is not None:
                    span.set_attribute("result", "retry" if lost == "lease_expired" else "ok")
                    return ("skip", lost, None, span)
            try:
                if self.inject_429.fires(event["op"]):
                    # Drill B: fails as ES's 429 would, before any request is sent.
                    span.set_attribute("wordloom.labs.es_429.injected", True)
                    raise EsFailure("es_429", "Elasticsearch answered 429 Too Many Requests ([LABS] injected, no request sent)")
                outcome = self.project_one(event, span)
                span.set_attribute("result", "ok")
                if outcome.startswith("noop"):
                    span.set_attribute("wordloom.idempotent_noop", True)
                    span.set_attribute("wordloom.idempotent_noop_reason", outcome.split(":")[1])
                return ("ok", outcome, None, span)
            except EsFailure as failure:
                span.set_attribute("result", "failed" if failure.terminal else "retry")
                span.set_attribute("reason", failure.reason)
                self.tracing.error(span, str(failure))
                return ("failed", failure, sys.exc_info(), span)

    def project_one(self, event, span):
        legacy = self.config.legacy
        doc_id = self.doc_id(event)
        version = int(event["event_version"])
        # Upstream writes without a version: plain PUT/DELETE, no query string.
        path = f"/{self.config.index}/_doc/{doc_id}" + (f"?version={version}&version_type=external" if legacy else "")
        if event["op"] == "delete":
            response = es_call(self.http, self.config, self.tracing, "DELETE", path)
            if response.status_code == 404:
                emit(logging.INFO, f"Outbox delete: doc {doc_id} not found in ES (noop)", span=span, outbox_event_id=str(event["id"]))
                return "noop:es_404"
            if response.status_code == 409 and legacy:
                return "noop:es_409"
            if response.status_code >= 300:
                raise classify_status(response.status_code)
            emit(logging.INFO, f"Outbox delete: deleted doc {doc_id}", span=span, outbox_event_id=str(event["id"]))
            return "deleted"
        source = self.source_row(event)
        if source is None:
            emit(logging.WARNING, f"Outbox upsert: no search_index row for {doc_id}; skipped", span=span, outbox_event_id=str(event["id"]))
            return "skipped"
        text, snippet, rank, source_version, updated = source
        body = {
            "entity_type": event["entity_type"],
            "entity_id": str(event["entity_id"]),
            "text": text,
            "snippet": snippet,
            "rank_score": rank or 0.0,
            "event_version": source_version,
            "updated_at": updated.isoformat() if updated else None,
        }
        if legacy:
            path = f"/{self.config.index}/_doc/{doc_id}?version={int(source_version)}&version_type=external"
        response = es_call(self.http, self.config, self.tracing, "PUT", path, json=body)
        if response.status_code == 409 and legacy:
            return "noop:es_409"
        if response.status_code >= 300:
            raise classify_status(response.status_code)
        emit(logging.INFO, f"Outbox upsert: indexed doc {doc_id} v{source_version}", span=span, outbox_event_id=str(event["id"]))
        return "indexed"

    def settle(self, event, result, batch_id):
        kind, detail, exc_info, span = result
        op = event["op"]
        if kind == "skip":
            # Upstream's reload found the claim gone: nothing finalized, nothing else counted.
            if detail == "lease_expired":
                self.last_reason = detail
                return "retry"
            return "ok"
        if kind == "ok":
            if self.finalize(event, "done"):
                self.metrics.processed.labels(PROJECTION, op).inc()
                self.metrics.last_success.labels(PROJECTION).set(time.time())
                if detail.startswith("noop"):
                    self.metrics.noop.labels(PROJECTION, op, detail.split(":")[1]).inc()
            return "ok"
        failure = detail
        self.last_reason = failure.reason
        attempt = int(event["attempts"])
        terminal = failure.terminal or attempt >= self.config.max_attempts
        delay = None if terminal else min(self.config.max_backoff, self.config.base_backoff * (2 ** (attempt - 1)))
        if not self.finalize(event, "failed" if terminal else "pending", failure.reason, str(failure), delay):
            return "lost"
        self.metrics.failed.labels(PROJECTION, op, failure.reason).inc()
        if terminal:
            self.metrics.terminal.labels(PROJECTION, op, failure.reason).inc()
        else:
            self.metrics.retry.labels(PROJECTION, op, failure.reason).inc()
        emit(
            logging.ERROR,
            f"Outbox {op} failed ({failure.reason}); " + ("giving up" if terminal else f"retry in {delay:.2f}s"),
            exc_info=exc_info,
            span=span,
            reason=failure.reason,
            attempt=attempt,
            **self.event_fields(event),
            claim_batch_id=batch_id,
        )
        return "failed" if terminal else "retry"

    # -- the loop -------------------------------------------------------------

    def poll_once(self):
        now = time.monotonic()
        if now - self.last_reclaim >= self.config.reclaim_every:
            self.last_reclaim = now
            self.reclaim()
        if now - self.last_gauges >= 1.0:
            self.last_gauges = now
            self.gauges()
        batch_id = str(uuid.uuid4())
        with self.tracing.span("outbox.claim_batch", attributes={"wordloom.claim_batch_id": batch_id, "wordloom.obs_schema": OBS_SCHEMA}) as claim_span:
            events = self.claim()
            claim_span.set_attribute("claimed", len(events))
        # Upstream's claim line: the only log line tying a batch id to its events' count.
        message = "outbox.claim_batch" if self.config.legacy else f"outbox.claim_batch claimed: {len(events)}"
        emit(logging.INFO, message, claim_batch_id=batch_id, claimed=len(events), worker_id=self.config.worker_id)
        if not events:
            return
        if self.config.process_sleep > 0:
            # Drills F and E: hold the claimed rows before processing them.
            self.stop.wait(self.config.process_sleep)
        attributes = {
            "wordloom.claim_batch_id": batch_id,
            "wordloom.obs_schema": OBS_SCHEMA,
            "wordloom.projection": PROJECTION,
            "wordloom.worker_id": self.config.worker_id,
        }
        # Upstream's bulk path sets the batch's result after its span ended (ignored by the SDK).
        late = self.config.use_bulk and not self.config.legacy
        with self.tracing.span("projection.process_batch", attributes=attributes) as batch_span:
            if self.config.use_bulk:
                outcomes = self.bulk(events, batch_span, batch_id)
            else:
                futures = [self.pool.submit(self.project, event, batch_span, batch_id) for event in events]
                outcomes = [self.settle(event, future.result(), batch_id) for event, future in zip(events, futures)]
            if not late:
                self.batch_result(batch_span, outcomes)
        if late:
            self.batch_result(batch_span, outcomes)

    last_reason = "none"

    def batch_result(self, batch_span, outcomes):
        ok, retry, failed = (outcomes.count(k) for k in ("ok", "retry", "failed"))
        result = "ok" if retry == 0 and failed == 0 else ("partial" if ok else ("failed" if failed and not retry else "retry"))
        if self.config.use_bulk and not self.config.legacy:
            # The span has ended: one set_attributes call, one SDK warning
            # "Setting attribute on ended span.", nothing recorded; no status either.
            batch_span.set_attributes(
                {
                    "result": result,
                    "reason": "none" if result == "ok" else self.last_reason,
                    "success_count": ok,
                    "failure_count": retry + failed,
                    "ok_count": ok,
                    "retry_count": retry,
                    "failed_count": failed,
                }
            )
            return
        batch_span.set_attribute("result", result)
        batch_span.set_attribute("reason", "none" if result == "ok" else self.last_reason)
        batch_span.set_attribute("ok_count", ok)
        batch_span.set_attribute("retry_count", retry)
        batch_span.set_attribute("failed_count", failed)
        if result == "failed":
            self.tracing.error(batch_span, "batch failed")

    def bulk_span(self, name, mode, batch_id):
        """Upstream's children of the bulk batch (prepare, send); none in legacy mode."""
        if self.config.legacy:
            return NoSpan()
        return self.tracing.span(
            name,
            attributes={"wordloom.claim_batch_id": batch_id, "wordloom.obs_schema": OBS_SCHEMA, "wordloom.projection": PROJECTION, "mode": mode},
        )

    def bulk(self, events, batch_span, batch_id):
        """One `_bulk` request for the batch, settled item by item."""
        legacy = self.config.legacy
        lines, sent = [], []
        outcomes = []
        with self.bulk_span("outbox.bulk.prepare", "es_bulk_prepare", batch_id) as prepare_span:
            for event in events:
                doc_id = self.doc_id(event)
                if event["op"] == "delete":
                    action = {"_index": self.config.index, "_id": doc_id}
                    if legacy:
                        action.update(version=int(event["event_version"]), version_type="external")
                    lines.append({"delete": action})
                    sent.append(event)
                    continue
                source = self.source_row(event)
                if source is None:
                    outcomes.append(self.settle(event, ("ok", "skipped", None, batch_span), batch_id))
                    continue
                text, snippet, rank, version, updated = source
                action = {"_index": self.config.index, "_id": doc_id}
                if legacy:
                    action.update(version=int(version), version_type="external")
                lines.append({"index": action})
                lines.append({"entity_type": event["entity_type"], "entity_id": str(event["entity_id"]), "text": text, "snippet": snippet, "rank_score": rank or 0.0, "event_version": version})
                sent.append(event)
            prepare_span.set_attribute("bulk_ops", len(sent))
            prepare_span.set_attribute("result", "prepared" if sent else "noop")
        if not sent:
            if not legacy:
                batch_span.set_attribute("result", "ok")
            return outcomes
        body = "".join(json.dumps(line) + "\n" for line in lines)
        started = time.monotonic()
        with self.bulk_span("outbox.bulk.send", "es_bulk", batch_id) as send_span:
            try:
                response = es_call(self.http, self.config, self.tracing, "POST", "/_bulk", data=body, headers={"Content-Type": "application/x-ndjson"})
                if response.status_code >= 300:
                    raise classify_status(response.status_code)
                answer = response.json()
                if self.config.bulk_partial:
                    self.inject_bulk_partial(answer, batch_span)
                items = answer.get("items", [])
            except EsFailure as failure:
                self.metrics.bulk_requests.labels(PROJECTION, "failed").inc()
                self.last_reason = failure.reason
                info = sys.exc_info()
                if not legacy:
                    send_span.set_attribute("result", "failed")
                    batch_span.set_attribute("result", "failed")
                return outcomes + [self.settle(event, ("failed", failure, info, batch_span), batch_id) for event in sent]
            finally:
                self.metrics.bulk_duration.labels(PROJECTION).observe(time.monotonic() - started)
            if not legacy:
                # From the HTTP answer alone, as upstream does: "ok" even when items failed.
                send_span.set_attribute("result", "ok")
                batch_span.set_attribute("result", "ok")
        item_failed = False
        for event, item in zip(sent, items):
            action, answer = next(iter(item.items()))
            status = int(answer.get("status", 500))
            if legacy:
                success = status < 300 or status in (404, 409) and action in ("delete", "index")
            else:
                success = status < 300 or (status == 404 and action == "delete")
            if success:
                detail = "noop:es_404" if status == 404 else ("noop:es_409" if status == 409 else "indexed")
                self.metrics.bulk_items.labels(PROJECTION, action, "success").inc()
                outcomes.append(self.settle(event, ("ok", detail, None, batch_span), batch_id))
            else:
                item_failed = True
                failure = classify_status(status)
                self.last_reason = failure.reason
                self.metrics.bulk_items.labels(PROJECTION, action, "failed").inc()
                self.metrics.bulk_item_failures.labels(PROJECTION, action, "4xx" if 400 <= status < 500 else "5xx").inc()
                outcomes.append(self.settle(event, ("failed", failure, None, batch_span), batch_id))
        self.metrics.bulk_requests.labels(PROJECTION, "partial" if item_failed and "ok" in outcomes else ("failed" if item_failed else "success")).inc()
        return outcomes

    def inject_bulk_partial(self, answer, batch_span):
        """Drill D: item 0 of a real `_bulk` answer of two items or more becomes a failure
        with the configured status and an ES-shaped error; `errors` is set."""
        items = answer.get("items") or []
        if len(items) < 2:
            return
        action = next(iter(items[0]), "index")
        item = dict(items[0].get(action) or {})
        item["status"] = self.config.bulk_partial_status
        item["error"] = {"type": "mapper_parsing_exception", "reason": "[LABS] injected bulk item failure"}
        items[0] = {action: item}
        answer["errors"] = True
        batch_span.set_attribute("wordloom.labs.es_bulk_partial.injected", True)
        batch_span.set_attribute("wordloom.labs.es_bulk_partial.status", self.config.bulk_partial_status)

    def run(self):
        while not self.stop.is_set():
            try:
                if self.db is None or self.db.closed:
                    self.connect()
                self.poll_once()
            except psycopg.Error:
                emit(logging.ERROR, "database error; reconnecting", exc_info=sys.exc_info(), reason="db_connect")
                try:
                    if self.db is not None:
                        self.db.close()
                except psycopg.Error:
                    pass
                self.db = None
                self.stop.wait(1.0)
                continue
            self.stop.wait(self.config.poll)


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path in ("/healthz", "/readyz") else 404)
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, *args):
        pass


def main():
    setup_logging()
    if env("WORDLOOM_ENV") is None:
        emit(logging.CRITICAL, "WORDLOOM_ENV is not set: refusing to start (set it to test, dev or prod)")
        return 2
    config = Config()
    emit(logging.INFO, f"Observability schema: {OBS_SCHEMA} (file={os.path.abspath(__file__)})", obs_schema=OBS_SCHEMA)
    config.announce_fault_switches()
    metrics = Metrics()
    try:
        start_http_server(config.metrics_port, addr="127.0.0.1", registry=metrics.registry)
        health = ThreadingHTTPServer(("127.0.0.1", config.http_port), Health)
    except OSError as error:
        emit(logging.ERROR, f"cannot listen on port {config.metrics_port}/{config.http_port}: {error}", exc_info=sys.exc_info())
        return 1
    threading.Thread(target=health.serve_forever, daemon=True).start()
    tracing = Tracing(config)
    worker = Worker(config, metrics, tracing)
    try:
        worker.connect()
    except psycopg.Error:
        emit(logging.ERROR, "database unreachable at start", exc_info=sys.exc_info(), reason="db_connect")
        return 1
    # Upstream prints the URL it connected to, password and all, on stdout.
    print(f"[OK] Database: {config.database_url}", flush=True)
    emit(
        logging.INFO,
        "Worker config",
        event="worker.config",
        worker_id=config.worker_id,
        batch_size=config.batch_size,
        use_es_bulk=config.use_bulk,
        concurrency=config.concurrency,
        behaviour="legacy" if config.legacy else "real",
    )

    def on_signal(signum, frame):
        emit(logging.WARNING, "Stop requested; draining current work only")
        worker.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    worker.run()
    worker.pool.shutdown(wait=True)
    tracing.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
