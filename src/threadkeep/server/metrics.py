"""Prometheus metrics of one app (SPEC S7.6): requests, store operations, the database.

Each app has its own :class:`prometheus_client.CollectorRegistry` (no global registry:
several apps live in one test process, and a worker's numbers are its own). Three
sources fill it:

* **Requests**: a pure ASGI middleware (not ``BaseHTTPMiddleware``, which would put
  each request in a task of its own and buffer streaming responses) counts every
  request and observes its duration — until the response is complete, so an event
  stream counts for as long as it stays open — by method, **route template** and
  status class (``2xx``). The template (``/api/v1/conversations/{conversation_id}``)
  keeps ids and share tokens out of the labels and the label set bounded; a request
  no route matched is ``<unmatched>``, and an unknown method ``OTHER``. The same
  middleware records the request for the logs (``logs.current_request``).
* **Store operations**: :meth:`Metrics.instrument` wraps the store a request is given
  in a proxy that times each public method call and counts it by method name and
  outcome (``ok``, the error's ``code``, or ``internal`` for anything unexpected).
  Calls the store makes to itself are not counted twice: the proxy wraps only the
  outside.
* **The database**, read when Prometheus scrapes, by a collector (no background
  thread): conversations by status and messages over every owner (one aggregate over
  the conversations' counters), the database's size, whether it is past
  ``storage_warning_bytes``; plus the cleanup schedule's runs and counts, which the
  schedule reports through :meth:`Metrics.record_cleanup`.

The exposition (``GET /metrics``, ``api/metrics.py``) is served by :meth:`Metrics.exposition`
in the Prometheus text format, or OpenMetrics when the scraper asks for it.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from fastapi import FastAPI
from fastapi.routing import RouteContext, iter_route_contexts
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from threadkeep.aio import AsyncConversationStore
from threadkeep.errors import ThreadkeepError
from threadkeep.models import CleanupReport
from threadkeep.server.logs import RequestInfo, current_request
from threadkeep.store import ConversationStore

__all__ = ["UNMATCHED", "InstrumentedStore", "Metrics", "RouteTemplates"]

log = logging.getLogger(__name__)

#: The route label of a request no route matched.
UNMATCHED = "<unmatched>"

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Seconds. Store operations take from tens of microseconds (a cached read) to seconds
# (an import); requests add the HTTP work on top.
_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

# Store methods that are not operations: they make another store or release one.
_NOT_OPERATIONS = frozenset({"as_owner", "close"})


class RouteTemplates:
    """The full path template of the route that serves a request, never its raw path.

    The router leaves the route it matched in ``scope["route"]``; with routers
    included under a prefix that route knows only its own part of the path, so the
    full template comes from FastAPI's route contexts (``iter_route_contexts``),
    indexed by route once and again whenever the app's routes change. A request
    answered before routing (a body over the size limit) is matched here.
    """

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._routes = routes  # the app's own list: routes included later are seen
        self._indexed_count = -1
        self._contexts: list[RouteContext] = []
        self._by_route: dict[int, list[RouteContext]] = {}

    def _index(self) -> None:
        self._contexts = list(iter_route_contexts(self._routes))
        self._by_route = {}
        for context in self._contexts:
            self._by_route.setdefault(id(context.original_route), []).append(context)
        self._indexed_count = len(self._routes)

    def of(self, scope: Scope) -> str:
        """The template of the route serving ``scope``, or :data:`UNMATCHED`."""
        if self._indexed_count != len(self._routes):
            self._index()
        route = scope.get("route")
        if route is None:
            candidates = self._contexts
        else:
            candidates = self._by_route.get(id(route), [])
            if not candidates:  # a route of a mounted app: its own template is all there is
                path = getattr(route, "path_format", None) or getattr(route, "path", None)
                return path if isinstance(path, str) else UNMATCHED
            if len(candidates) == 1:
                return _template(candidates[0])
        for context in candidates:
            match, _ = context.matches(scope)
            if match is not Match.NONE:
                return _template(context)
        return UNMATCHED


def _template(context: RouteContext) -> str:
    path = context.path_format or context.path
    return path if isinstance(path, str) else UNMATCHED


def _status_class(status: int) -> str:
    return f"{status // 100}xx"


class _RequestObserver:
    """Counts and times every HTTP request; records it for the logs meanwhile."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: list[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        info = RequestInfo(method)
        token = current_request.set(info)
        started = time.perf_counter()
        route = UNMATCHED

        def routed() -> None:
            nonlocal route
            route = self.templates.of(scope)
            # The logs mask the raw path of a request no route matched.
            info.route = None if route == UNMATCHED else route

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                info.status = int(message["status"])
                routed()
            await send(message)

        escaped = False
        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            escaped = True
            if info.status is None:  # the server error handler outside answers 500
                info.status = 500
                routed()
            raise
        finally:
            if info.status is not None:  # else cancelled before any response
                self.metrics.observe_request(
                    method, route, info.status, time.perf_counter() - started
                )
            # Left set when an exception escapes: the server logs it, and the 500 the
            # error handler outside sends, in this request's own task (context), and
            # those lines should name the request too.
            if not escaped:
                current_request.reset(token)


class InstrumentedStore:
    """A :class:`ConversationStore` (or its async twin) seen through a proxy that times
    and counts each public method call (see the module docstring). Everything else — properties,
    ``as_owner``, ``close``, private names — passes straight through."""

    __slots__ = ("_metrics", "_store")

    def __init__(self, store: ConversationStore | AsyncConversationStore, metrics: Metrics) -> None:
        self._store = store
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if name.startswith("_") or name in _NOT_OPERATIONS or not callable(value):
            return value
        return self._metrics.timed(name, value)

    def __repr__(self) -> str:
        return f"<instrumented {self._store!r}>"


class _DatabaseCollector(Collector):
    """The gauges read from the database when Prometheus scrapes."""

    def __init__(self, store: ConversationStore) -> None:
        self._store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "threadkeep_database_up",
            "1 when the database answered this scrape's queries, else 0.",
        )
        try:
            totals = self._store.owner_stats(all_owners=True)
            size = self._store.database_size()
        except Exception as error:
            # A scrape must not fail with the database: the request metrics still count.
            log.warning("metrics: the database did not answer (%s)", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        conversations = GaugeMetricFamily(
            "threadkeep_conversations",
            "Conversations of every owner, by status.",
            labels=["status"],
        )
        for status, count in totals.conversations.items():
            conversations.add_metric([status], count)
        yield conversations
        yield GaugeMetricFamily(
            "threadkeep_messages", "Messages stored, over every owner.", value=totals.messages
        )
        yield GaugeMetricFamily(
            "threadkeep_tokens",
            "Tokens of the stored messages (as reported by callers), over every owner.",
            value=totals.tokens,
        )
        yield GaugeMetricFamily(
            "threadkeep_database_size_bytes",
            "Bytes the database takes (SQLite: file and WAL; PostgreSQL: threadkeep's tables).",
            value=size,
        )
        limit = self._store.settings.storage_warning_bytes
        yield GaugeMetricFamily(
            "threadkeep_storage_warning",
            "1 when the database is larger than storage_warning_bytes, else 0.",
            value=1 if limit is not None and size > limit else 0,
        )


_Timed = Callable[..., Any]


class _CountAndTime:
    """A counter and a histogram over the same labels, observed together.

    prometheus_client validates the labels on every ``.labels()`` call, so each label
    set's children are looked up once and kept.
    """

    __slots__ = ("_children", "_count", "_seconds")

    def __init__(self, count: Counter, seconds: Histogram) -> None:
        self._count = count
        self._seconds = seconds
        self._children: dict[tuple[str, ...], tuple[Counter, Histogram]] = {}

    def observe(self, labels: tuple[str, ...], seconds: float) -> None:
        children = self._children.get(labels)
        if children is None:
            children = (self._count.labels(*labels), self._seconds.labels(*labels))
            self._children[labels] = children
        children[0].inc()
        children[1].observe(seconds)


class Metrics:
    """The metrics of one app; see the module docstring."""

    def __init__(self, store: ConversationStore) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self._requests = _CountAndTime(
            Counter(
                "threadkeep_http_requests",
                "HTTP requests answered, by method, route template and status class.",
                ["method", "route", "status"],
                registry=registry,
            ),
            Histogram(
                "threadkeep_http_request_duration_seconds",
                "Time from a request's arrival to the end of its response.",
                ["method", "route", "status"],
                buckets=_BUCKETS,
                registry=registry,
            ),
        )
        self._operations = _CountAndTime(
            Counter(
                "threadkeep_store_operations",
                "Store method calls made by requests, by method and outcome "
                "(ok, an error code, or internal).",
                ["operation", "outcome"],
                registry=registry,
            ),
            Histogram(
                "threadkeep_store_operation_duration_seconds",
                "Time a store method call took, by method and outcome.",
                ["operation", "outcome"],
                buckets=_BUCKETS,
                registry=registry,
            ),
        )
        self._cleanup_runs = Counter(
            "threadkeep_cleanup_runs",
            "Scheduled cleanup runs, by outcome (ok or error).",
            ["outcome"],
            registry=registry,
        )
        self._cleanup_conversations = Counter(
            "threadkeep_cleanup_conversations",
            "Conversations scheduled cleanup moved to the trash, purged, or left alone "
            "because they changed since the plan.",
            ["action"],
            registry=registry,
        )
        for outcome in ("ok", "error"):
            self._cleanup_runs.labels(outcome)
        for action in ("trashed", "purged", "skipped"):
            self._cleanup_conversations.labels(action)
        self._cleanup_last_run = Gauge(
            "threadkeep_cleanup_last_run_timestamp_seconds",
            "When scheduled cleanup last finished (Unix time; 0: not yet).",
            registry=registry,
        )
        registry.register(_DatabaseCollector(store))

    # ------------------------------------------------------------------ requests

    def install(self, app: FastAPI) -> None:
        """Add the request observer to ``app`` (outermost of the app's own middleware)."""
        app.add_middleware(_RequestObserver, metrics=self, routes=app.router.routes)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self._requests.observe((method, route, _status_class(status)), seconds)

    # ---------------------------------------------------------- store operations

    def instrument(self, store: ConversationStore) -> ConversationStore:
        """``store``, with each public method call counted and timed."""
        return cast(ConversationStore, InstrumentedStore(store, self))

    def observe_operation(self, operation: str, outcome: str, seconds: float) -> None:
        self._operations.observe((operation, outcome), seconds)

    def instrument_async(self, store: AsyncConversationStore) -> AsyncConversationStore:
        """The async ``store``, with each public method call counted and timed."""
        return cast(AsyncConversationStore, InstrumentedStore(store, self))

    def timed(self, operation: str, method: _Timed) -> _Timed:
        """``method`` that reports each call as ``operation`` (a coroutine method's
        report covers the awaited call). A call ended by something that is not an
        ``Exception`` (a cancelled request, an interrupt) is not reported."""
        if inspect.iscoroutinefunction(method):

            async def awaited(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = await method(*args, **kwargs)
                except Exception as error:
                    self._observe_failure(operation, error, started)
                    raise
                self.observe_operation(operation, "ok", time.perf_counter() - started)
                return result

            return awaited

        def call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = method(*args, **kwargs)
            except Exception as error:
                self._observe_failure(operation, error, started)
                raise
            self.observe_operation(operation, "ok", time.perf_counter() - started)
            return result

        return call

    def _observe_failure(self, operation: str, error: Exception, started: float) -> None:
        outcome = error.code if isinstance(error, ThreadkeepError) else "internal"
        self.observe_operation(operation, outcome, time.perf_counter() - started)

    # ------------------------------------------------------------------- cleanup

    def record_cleanup(self, report: CleanupReport | None) -> None:
        """Count one scheduled cleanup run: its report, or ``None`` when it failed."""
        if report is None:
            self._cleanup_runs.labels("error").inc()
            return
        self._cleanup_runs.labels("ok").inc()
        self._cleanup_conversations.labels("trashed").inc(len(report.trashed))
        self._cleanup_conversations.labels("purged").inc(len(report.purged))
        self._cleanup_conversations.labels("skipped").inc(len(report.skipped))
        self._cleanup_last_run.set(report.applied_at.timestamp())

    # ---------------------------------------------------------------- exposition

    def exposition(self, accept: str | None) -> tuple[bytes, str]:
        """The registry's samples and their content type, in the format ``accept`` asks
        for (OpenMetrics or, by default, the Prometheus text format)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
