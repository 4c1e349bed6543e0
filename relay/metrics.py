"""Prometheus counters for ``/metrics``, one registry per relay instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """The relay's counters and gauges."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.created = Counter("hitl_requests_created", "Requests accepted, by kind.", ["kind"], registry=r)
        self.answered = Counter("hitl_requests_answered", "Requests answered.", registry=r)
        self.expired = Counter("hitl_requests_expired", "Requests that expired unanswered.", registry=r)
        self.cancelled = Counter("hitl_requests_cancelled", "Requests cancelled.", registry=r)
        self.pending = Gauge("hitl_requests_pending", "Requests waiting for the human.", registry=r)
        self.subscribers = Gauge("hitl_event_subscribers", "Approvers following the event stream.", registry=r)
        self.http = Counter("hitl_http_responses", "HTTP responses, by status class.", ["status"], registry=r)
        self.auth_failures = Counter("hitl_auth_failures", "Rejected credentials.", registry=r)
        self._children: dict[tuple[Counter, str], Counter] = {}

    def count_created(self, kind: str) -> None:
        """One more request of this kind accepted."""
        self._child(self.created, kind).inc()

    def count_response(self, status: int) -> None:
        """One more HTTP response with this status."""
        self._child(self.http, f"{status // 100}xx").inc()

    def _child(self, counter: Counter, label: str) -> Counter:
        # prometheus_client's labels() takes a lock and checks its arguments each time: once is enough.
        key = (counter, label)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = counter.labels(label)
        return child

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
