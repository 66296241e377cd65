"""Prometheus metrics, ``hsctl_`` prefix, base units, no text in labels.

With several worker processes set ``PROMETHEUS_MULTIPROC_DIR`` (``hsctl serve
--workers N`` does) and ``/metrics`` aggregates every worker.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
PERFORMANCE_METRICS = ("precision", "recall", "macro_f1", "hate_rate")
MULTIPROCESS_REFRESH = 200  # predictions between gauge updates when values live in files


def _value(estimate: Mapping[str, Any], metric: str) -> float:
    value = estimate[metric]
    return float("nan") if value is None else float(value)


class ServerMetrics:
    """Every metric the server exports, on its own registry (so tests can build many apps)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # In multiprocess mode values live in files; the registry is only built at scrape time.
        self.registry = None if self.multiprocess else CollectorRegistry()
        kw: dict[str, Any] = {"registry": self.registry} if self.registry is not None else {}
        self.requests = Counter(
            "hsctl_requests", "HTTP requests by endpoint and status code.", ["endpoint", "status"], **kw
        )
        self.duration = Histogram(
            "hsctl_request_duration_seconds", "HTTP request latency.", ["endpoint"], buckets=LATENCY_BUCKETS, **kw
        )
        self.batch_size = Histogram("hsctl_batch_size", "Texts per inference micro-batch.", buckets=BATCH_BUCKETS, **kw)
        self.inference = Histogram(
            "hsctl_inference_duration_seconds", "Model time per micro-batch.", buckets=LATENCY_BUCKETS, **kw
        )
        gauge_kw = {**kw, "multiprocess_mode": "livesum"} if self.multiprocess else kw
        self.queue_depth = Gauge("hsctl_queue_depth", "Texts waiting for inference.", **gauge_kw)
        self.predictions = Counter("hsctl_predictions", "Predictions by predicted label.", ["label"], **kw)
        info_kw = {**kw, "multiprocess_mode": "max"} if self.multiprocess else kw
        self.model_info = Gauge(
            "hsctl_model_info", "The served model (value 1).", ["name", "version", "backend", "threshold"], **info_kw
        )
        wait_kw = {**kw, "multiprocess_mode": "livemax"} if self.multiprocess else kw
        self.expected_wait = Gauge(
            "hsctl_expected_wait_seconds",
            "Expected wait for the answer of a request arriving now (admission compares it to the limit).",
            **wait_kw,
        )
        self.texts_dropped = Counter(
            "hsctl_texts_dropped",
            "Queued texts dropped before inference: their client disconnected, or their request timed out.",
            ["reason"],
            **kw,
        )
        self.log_dropped = Counter(
            "hsctl_prediction_log_dropped", "Prediction-log records not written, by reason.", ["reason"], **kw
        )
        from hsctl.serve.predlog import DROP_REASONS

        for reason in DROP_REASONS:  # every series exists from the start, at 0
            self.log_dropped.labels(reason)
        for reason in ("disconnected", "timeout"):
            self.texts_dropped.labels(reason)
        # Workers estimate over their own last predictions: the most recent estimate stands for the replica.
        self._add_performance({**kw, "multiprocess_mode": "livemostrecent"} if self.multiprocess else kw)

    def _add_performance(self, gauge_kw: dict[str, Any]) -> None:
        """``hsctl_estimated_*``: confidence-based estimates over the last predictions (no labels needed)."""
        from prometheus_client import Gauge

        from hsctl.core.performance import ROLLING_WINDOW, RollingEstimate

        self.rolling = RollingEstimate(ROLLING_WINDOW)
        self.estimated = {
            metric: Gauge(
                f"hsctl_estimated_{metric}",
                f"Expected {metric.replace('_', ' ')} at the deployed threshold over the last {ROLLING_WINDOW} "
                "predictions, from their calibrated probabilities (no labels; wrong under concept shift).",
                **gauge_kw,
            )
            for metric in PERFORMANCE_METRICS
        }
        self.estimated_n = Gauge(
            "hsctl_estimated_predictions", "Predictions behind the hsctl_estimated_* gauges.", **gauge_kw
        )
        if not self.multiprocess:
            for metric, gauge in self.estimated.items():
                gauge.set_function(functools.partial(lambda m: _value(self.rolling.current(), m), metric))
            self.estimated_n.set_function(lambda: self.rolling.current()["n"])

    def observe_decisions(self, probabilities: list[float], threshold: float) -> None:
        """Feed the rolling estimate; with worker processes, refresh the gauges every few hundred predictions."""
        before = self.rolling.added
        self.rolling.add(probabilities, threshold)
        if self.multiprocess and before // MULTIPROCESS_REFRESH != self.rolling.added // MULTIPROCESS_REFRESH:
            current = self.rolling.current()
            for metric, gauge in self.estimated.items():
                gauge.set(_value(current, metric))
            self.estimated_n.set(current["n"])

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
