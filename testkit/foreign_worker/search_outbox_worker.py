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
"""

import json
import logging
import os
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

    def connect(self):
        self.db = psycopg.connect(self.config.psycopg_url(), autocommit=True, connect_timeout=5)

    # -- SQL ------------------------------------------------------------------

    def claim(self):
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

    def source_row(self, event):
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT text, snippet, rank_score, event_version, updated_at FROM search_index WHERE entity_type = %s AND entity_id = %s",
                (event["entity_type"], event["entity_id"]),
            )
            return cur.fetchone()

    def finalize(self, event, status, reason=None, error=None, delay=None):
        """Fenced on (id, owner, attempts): the claim's attempts is its token, so a stale
        claim (lease lost and re-claimed, even by this worker) changes nothing."""
        with self.db.cursor() as cur:
            if status == "done":
                cur.execute(
                    """UPDATE search_outbox_events SET status = 'done', processed_at = now(), owner = NULL, lease_until = NULL,
                       error_reason = NULL, error = NULL, next_retry_at = NULL, updated_at = now()
                       WHERE id = %s AND owner = %s AND attempts = %s AND status = 'processing'""",
                    (event["id"], self.config.worker_id, event["attempts"]),
                )
            else:
                cur.execute(
                    """UPDATE search_outbox_events SET status = %s, owner = NULL, lease_until = NULL, error_reason = %s,
                       error = %s, next_retry_at = CASE WHEN %s::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => %s::float8) END,
                       updated_at = now()
                       WHERE id = %s AND owner = %s AND attempts = %s AND status = 'processing'""",
                    (status, reason, error, delay, delay, event["id"], self.config.worker_id, event["attempts"]),
                )
            if cur.rowcount == 0:
                self.metrics.mismatch.labels(PROJECTION).inc()
                emit(logging.WARNING, "Outbox finalize skipped: lease lost (owner mismatch)", outbox_event_id=str(event["id"]))
                return False
        return True

    def gauges(self):
        with self.db.cursor() as cur:
            cur.execute(
                """SELECT count(*) FILTER (WHERE status IN ('pending', 'processing')),
                          extract(epoch FROM now() - min(created_at) FILTER (WHERE status = 'pending')),
                          count(*) FILTER (WHERE status = 'processing'),
                          count(*) FILTER (WHERE status = 'processing' AND processing_started_at < now() - make_interval(secs => %s))
                   FROM search_outbox_events WHERE status IN ('pending', 'processing')""",
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
            try:
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
        doc_id = str(event["entity_id"])
        version = int(event["event_version"])
        path = f"/{self.config.index}/_doc/{doc_id}?version={version}&version_type=external"
        if event["op"] == "delete":
            response = es_call(self.http, self.config, self.tracing, "DELETE", path)
            if response.status_code == 404:
                emit(logging.INFO, f"Outbox delete: doc {doc_id} not found in ES (noop)", span=span, outbox_event_id=str(event["id"]))
                return "noop:es_404"
            if response.status_code == 409:
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
            "entity_id": doc_id,
            "text": text,
            "snippet": snippet,
            "rank_score": rank or 0.0,
            "event_version": source_version,
            "updated_at": updated.isoformat() if updated else None,
        }
        path = f"/{self.config.index}/_doc/{doc_id}?version={int(source_version)}&version_type=external"
        response = es_call(self.http, self.config, self.tracing, "PUT", path, json=body)
        if response.status_code == 409:
            return "noop:es_409"
        if response.status_code >= 300:
            raise classify_status(response.status_code)
        emit(logging.INFO, f"Outbox upsert: indexed doc {doc_id} v{source_version}", span=span, outbox_event_id=str(event["id"]))
        return "indexed"

    def settle(self, event, result, batch_id):
        kind, detail, exc_info, span = result
        op = event["op"]
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
            outbox_event_id=str(event["id"]),
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
        emit(logging.INFO, "outbox.claim_batch", claim_batch_id=batch_id, claimed=len(events), worker_id=self.config.worker_id)
        if not events:
            return
        attributes = {
            "wordloom.claim_batch_id": batch_id,
            "wordloom.obs_schema": OBS_SCHEMA,
            "wordloom.projection": PROJECTION,
            "wordloom.worker_id": self.config.worker_id,
        }
        with self.tracing.span("projection.process_batch", attributes=attributes) as batch_span:
            if self.config.use_bulk:
                outcomes = self.bulk(events, batch_span, batch_id)
            else:
                futures = [self.pool.submit(self.project, event, batch_span, batch_id) for event in events]
                outcomes = [self.settle(event, future.result(), batch_id) for event, future in zip(events, futures)]
            ok, retry, failed = (outcomes.count(k) for k in ("ok", "retry", "failed"))
            result = "ok" if retry == 0 and failed == 0 else ("partial" if ok else ("failed" if failed and not retry else "retry"))
            batch_span.set_attribute("result", result)
            batch_span.set_attribute("reason", "none" if result == "ok" else self.last_reason)
            batch_span.set_attribute("ok_count", ok)
            batch_span.set_attribute("retry_count", retry)
            batch_span.set_attribute("failed_count", failed)
            if result == "failed":
                self.tracing.error(batch_span, "batch failed")

    last_reason = "none"

    def bulk(self, events, batch_span, batch_id):
        """One `_bulk` request for the batch, settled item by item."""
        lines, sent = [], []
        outcomes = []
        for event in events:
            doc_id = str(event["entity_id"])
            if event["op"] == "delete":
                lines.append({"delete": {"_index": self.config.index, "_id": doc_id, "version": int(event["event_version"]), "version_type": "external"}})
                sent.append(event)
                continue
            source = self.source_row(event)
            if source is None:
                outcomes.append(self.settle(event, ("ok", "skipped", None, batch_span), batch_id))
                continue
            text, snippet, rank, version, updated = source
            lines.append({"index": {"_index": self.config.index, "_id": doc_id, "version": int(version), "version_type": "external"}})
            lines.append({"entity_type": event["entity_type"], "entity_id": doc_id, "text": text, "snippet": snippet, "rank_score": rank or 0.0, "event_version": version})
            sent.append(event)
        if not sent:
            return outcomes
        body = "".join(json.dumps(line) + "\n" for line in lines)
        started = time.monotonic()
        try:
            response = es_call(self.http, self.config, self.tracing, "POST", "/_bulk", data=body, headers={"Content-Type": "application/x-ndjson"})
            if response.status_code >= 300:
                raise classify_status(response.status_code)
            items = response.json().get("items", [])
        except EsFailure as failure:
            self.metrics.bulk_requests.labels(PROJECTION, "failed").inc()
            self.last_reason = failure.reason
            info = sys.exc_info()
            return outcomes + [self.settle(event, ("failed", failure, info, batch_span), batch_id) for event in sent]
        finally:
            self.metrics.bulk_duration.labels(PROJECTION).observe(time.monotonic() - started)
        item_failed = False
        for event, item in zip(sent, items):
            action, answer = next(iter(item.items()))
            status = int(answer.get("status", 500))
            if status < 300 or status in (404, 409) and action in ("delete", "index"):
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
