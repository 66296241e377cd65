"""loadtest building blocks: durations, SLO parsing, histograms, pacing, /metrics figures, URLs and bodies."""

from __future__ import annotations

import json
import math
import random
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hsctl.core.slo import LATENCY_METRICS, SLO_METRICS, Objective, check_slo, parse_slo
from hsctl.core.units import format_duration, parse_duration
from hsctl.errors import ConfigError, ExitCode
from hsctl.loadtest import build_bodies
from hsctl.loadtest.pacing import ArrivalSchedule, count_between
from hsctl.loadtest.server import (
    ServerUnreachableError,
    check_url,
    histogram_quantile,
    server_figures,
    wait_ready,
)
from hsctl.loadtest.stats import LatencyHistogram, Recorder, classify
from hsctl.settings import load_settings

# --- durations -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m", 60), ("500ms", 0.5), ("1m30s", 90), ("2h", 7200), ("1.5s", 1.5), ("20", 20), (" 3 S ", 3)],
)
def test_parse_duration(text: str, seconds: float):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1x", "s", "-1s", "1s2", "ms30", "inf", "nan", "1m 2"])
def test_parse_duration_rejects(text: str):
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(s) for s in (0.5, 30, 90, 120, 1.5)] == ["500ms", "30s", "1m30s", "2m", "1.5s"]


def test_settings_take_duration_strings_from_env_and_reject_bad_slo(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HSCTL_LOADTEST__DURATION_S", "1m")
    monkeypatch.setenv("HSCTL_LOADTEST__WARMUP_S", "500ms")
    cfg = load_settings().settings.loadtest
    assert (cfg.duration_s, cfg.warmup_s, cfg.slo, cfg.rate, cfg.endpoint) == (60, 0.5, None, None, "predict")
    with pytest.raises(ConfigError, match=r"loadtest\.slo.*unknown metric 'p42'"):
        load_settings({"loadtest.slo": "p42<1ms"})
    with pytest.raises(ConfigError, match=r"loadtest\.endpoint"):
        load_settings({"loadtest.endpoint": "v3"})


# --- SLO -------------------------------------------------------------------------------------------------------


def test_parse_slo_full_example():
    objectives = parse_slo("p50<100ms, p95<200ms,p99<250ms,max<1s,error_rate<0.1%")
    assert objectives == [
        Objective("p50", "<", 100),
        Objective("p95", "<", 200),
        Objective("p99", "<", 250),
        Objective("max", "<", 1000),
        Objective("error_rate", "<", 0.001),
    ]
    assert [str(o) for o in objectives] == ["p50<100ms", "p95<200ms", "p99<250ms", "max<1000ms", "error_rate<0.1%"]
    assert parse_slo("ERROR_RATE<=0,P99<0.25S") == [Objective("error_rate", "<=", 0), Objective("p99", "<", 250)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty SLO"),
        ("p99", "expected METRIC<VALUE"),
        ("p99>250ms", "expected METRIC<VALUE"),
        ("p99<250", "needs a unit"),
        ("p99<250%", "needs a unit"),
        ("p98<250ms", "unknown metric"),
        ("error_rate<1ms", "percentage"),
        ("error_rate<150%", "above 100%"),
        ("p99<1s,p99<2s", "given twice"),
    ],
)
def test_parse_slo_rejects(text: str, message: str):
    with pytest.raises(ValueError, match=message):
        parse_slo(text)


_number = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False, allow_infinity=False)


@st.composite
def _slo_text(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, float]]]:
    metrics = draw(st.lists(st.sampled_from(SLO_METRICS), min_size=1, max_size=len(SLO_METRICS), unique=True))
    parts, expected = [], []
    for metric in metrics:
        op = draw(st.sampled_from(["<", "<="]))
        space = draw(st.sampled_from(["", " "]))
        if metric == "error_rate":
            value = draw(st.decimals(min_value=0, max_value=100, places=3))
            if draw(st.booleans()):
                parts.append(f"{metric}{space}{op}{space}{value}%")
                expected.append((metric, op, float(value) / 100))
            else:
                parts.append(f"{metric}{op}{float(value) / 100!r}")
                expected.append((metric, op, float(value) / 100))
        else:
            value = draw(_number)
            unit = draw(st.sampled_from(["ms", "s", "MS"]))
            parts.append(f"{space}{metric}{op}{value}{unit}")
            expected.append((metric, op, float(value) * (1000 if unit == "s" else 1)))
    return ",".join(parts), expected


@given(_slo_text())
def test_parse_slo_property(case: tuple[str, list[tuple[str, str, float]]]):
    text, expected = case
    objectives = parse_slo(text)
    assert [(o.metric, o.op) for o in objectives] == [(m, op) for m, op, _ in expected]
    for objective, (_, _, limit) in zip(objectives, expected, strict=True):
        assert objective.limit == pytest.approx(limit, rel=1e-9, abs=1e-12)
        # The canonical text parses back to the same objective.
        again = parse_slo(str(objective))[0]
        assert (again.metric, again.op) == (objective.metric, objective.op)
        assert again.limit == pytest.approx(objective.limit, rel=1e-5, abs=1e-12)


@given(st.text(max_size=40))
def test_parse_slo_never_crashes(text: str):
    try:
        objectives = parse_slo(text)
    except ValueError:
        return
    assert objectives and all(o.metric in SLO_METRICS for o in objectives)


def test_check_slo_strict_and_inclusive_and_missing():
    objectives = parse_slo("p99<250ms,p50<=10ms,max<1s,error_rate<1%")
    checks = check_slo(objectives, {"p99": 250.0, "p50": 10.0, "max": None}, 0.005)
    assert [c.passed for c in checks] == [False, True, False, True]
    assert checks[0].describe() == "p99 250.0ms (objective p99<250ms)"
    assert checks[2].describe() == "max no successful requests (objective max<1000ms)"
    assert checks[3].to_dict()["unit"] == "fraction"
    assert set(LATENCY_METRICS) < set(SLO_METRICS)


# --- histogram and recorder ------------------------------------------------------------------------------------


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_histogram_percentiles_within_half_a_percent():
    rng = random.Random(1)
    values = [rng.lognormvariate(2, 1.2) for _ in range(20_000)] + [0.0, 1e-5, 90_000.0]
    hist = LatencyHistogram()
    for v in values:
        hist.add(v)
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        assert hist.quantile(q) == pytest.approx(_exact(values, q), rel=0.006)
    summary = hist.summary()
    assert summary["max"] == 90_000.0 and summary["min"] == 0.0
    assert summary["mean"] == pytest.approx(sum(values) / len(values))
    assert LatencyHistogram().summary()["p99"] is None


def test_histogram_merge_and_round_trip_equal_one_histogram():
    rng = random.Random(2)
    a, b, both = LatencyHistogram(), LatencyHistogram(), LatencyHistogram()
    for i in range(5000):
        value = rng.expovariate(1 / 20)
        (a if i % 3 else b).add(value)
        both.add(value)
    merged = LatencyHistogram.from_dict(json.loads(json.dumps(a.to_dict())))
    merged.merge(LatencyHistogram.from_dict(b.to_dict()))
    assert merged.summary() == pytest.approx(both.summary())


def test_recorder_counts_errors_and_timeline_and_merges():
    one, two = Recorder(), Recorder()
    one.record(0.2, 5.0, 200, None)
    one.record(0.7, 7.0, 503, "http", '{"error":"queue_full"}')
    two.record(1.5, 9.0, 0, "timeout", "Timeout: timed out")
    two.record(1.6, 9.0, 503, "http", "again")
    two.dropped_arrivals = 3
    merged = Recorder.from_dict(json.loads(json.dumps(one.to_dict())))
    merged.merge_dict(two.to_dict())
    assert (merged.requests, merged.failures, merged.dropped_arrivals) == (4, 3, 3)
    assert merged.errors["503|http"]["count"] == 2 and merged.errors["503|http"]["example"].startswith('{"error"')
    assert merged.errors["0|timeout"]["status"] is None
    rows = merged.timeline_rows(2.5)
    assert [(r["t"], r["requests"], r["failures"]) for r in rows] == [(0, 2, 1), (1, 2, 2), (2, 0, 0)]
    assert rows[0]["p50_ms"] == pytest.approx(5.0, rel=0.01) and rows[1]["p50_ms"] is None
    assert rows[2]["ok_rps"] == 0 and rows[1]["error_rps"] == 2


def test_classify_kinds():
    assert classify(200, None, b'{"label":"hate"}', b'"label"') == (None, "")
    assert classify(200, None, b"{}", b'"label"')[0] == "invalid_response"
    assert classify(503, None, b'{"error":"full"}', b'"label"') == ("http", '{"error":"full"}')
    assert classify(302, None, b"", b'"label"')[0] == "redirect"
    assert classify(0, ConnectionRefusedError(111, "refused"), b"", b"")[0] == "connection_refused"
    assert classify(0, TimeoutError("timed out"), b"", b"")[0] == "timeout"
    assert classify(0, ConnectionResetError(104, "reset"), b"", b"")[0] == "connection_closed"
    assert classify(0, OSError("weird"), b"", b"")[0] == "connection"


# --- open-loop pacing ------------------------------------------------------------------------------------------


def test_arrival_schedule_keeps_rate_and_drops_what_no_user_could_start():
    schedule = ArrivalSchedule(10, tolerance_s=0.05)
    assert [schedule.next(0.0)[0] for _ in range(3)] == pytest.approx([0.0, 0.1, 0.2])
    # Every user was busy until t=1.0: slots 0.3 .. 0.9 are dropped, 1.0 is still on time.
    due, dropped = schedule.next(1.0, (0.0, 10.0))
    assert due == pytest.approx(1.0) and dropped == 7
    # Outside the measured window (warm-up) drops are not counted.
    due, dropped = schedule.next(2.0, (5.0, 10.0))
    assert due == pytest.approx(2.0) and dropped == 0
    assert count_between(0.0, 10, 0.1, math.inf, math.inf) == 0
    assert count_between(0.0, 10, 0.1, 0.25, math.inf) == 7
    with pytest.raises(ValueError):
        ArrivalSchedule(0)


# --- the server's own figures ----------------------------------------------------------------------------------


def test_histogram_quantile_like_prometheus():
    buckets = [(0.01, 10.0), (0.1, 90.0), (1.0, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.01 + 0.09 * 40 / 80)
    assert histogram_quantile(0.05, buckets) == pytest.approx(0.005)
    assert histogram_quantile(0.99, [(0.1, 0.0), (math.inf, 5.0)]) == 0.1
    assert histogram_quantile(0.5, []) is None


def test_server_figures_from_two_real_scrapes():
    from hsctl.serve.metrics import ServerMetrics

    metrics = ServerMetrics()
    metrics.requests.labels("/predict", "200").inc(5)
    metrics.requests.labels("/v2/health/ready", "200").inc(3)
    before = metrics.render()[0].decode()
    for _ in range(90):
        metrics.requests.labels("/predict", "200").inc()
        metrics.duration.labels("/predict").observe(0.02)
    for _ in range(10):
        metrics.requests.labels("/predict", "503").inc()
        metrics.duration.labels("/predict").observe(0.002)
    for size in (4, 8):
        metrics.batch_size.observe(size)
        metrics.inference.observe(0.01)
    metrics.model_info.labels("hsctl", "v1", "onnx-int8", "0.5").set(1)
    after = metrics.render()[0].decode()
    figures = server_figures(before, after, "/predict", window_s=2.0)
    assert figures is not None
    assert figures["requests"] == 100 and figures["errors"] == 10
    assert figures["requests_by_status"] == {"200": 90, "503": 10}
    assert figures["throughput_rps"] == 50
    assert figures["latency_ms"]["mean"] == pytest.approx(18.2)
    assert 10 < figures["latency_ms"]["p50"] <= 25 and figures["latency_ms"]["p99"] <= 25
    assert figures["batch_size_mean"] == 6 and figures["inference_ms_per_batch"] == pytest.approx(10)
    assert figures["model"] == {"version": "v1", "backend": "onnx-int8"}
    assert server_figures(None, None, "/predict", 1.0) is None


# --- URLs, readiness and bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1", "127.0.0.1:8000", "not a url", "http://", "http://h:99999", "http://h/?q=1", "http://h:0"],
)
def test_check_url_refuses(url: str):
    with pytest.raises(ServerUnreachableError, match="bad URL") as info:
        check_url(url)
    assert info.value.exit_code == ExitCode.NETWORK


def test_check_url_keeps_a_base_path():
    assert check_url(" https://example.test:8443/api/ ") == "https://example.test:8443/api"


def test_wait_ready_on_a_closed_port_fails_at_once():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServerUnreachableError, match="connection refused"):
        wait_ready(f"http://127.0.0.1:{port}", timeout_s=30)


def test_build_bodies_for_each_endpoint():
    texts = [f"text {i}" for i in range(10)]
    single, expect = build_bodies(texts, endpoint="predict", batch=1, seed=0)
    assert expect == '"label"' and len(single) == 10
    assert sorted(json.loads(b)["text"] for b in single) == sorted(texts)
    batched, expect = build_bodies(texts, endpoint="predict", batch=4, seed=0)
    assert expect == '"predictions"' and len(batched) == 3 and all(len(json.loads(b)["texts"]) == 4 for b in batched)
    v2, expect = build_bodies(texts, endpoint="v2", batch=3, seed=0, limit=2)
    tensor = json.loads(v2[0])["inputs"][0]
    assert expect == '"outputs"' and len(v2) == 2
    assert tensor["datatype"] == "BYTES" and tensor["shape"] == [3] and len(tensor["data"]) == 3
