"""The PNG of a load test: latency percentiles and throughput per second of the measured window."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_plot(timeline: list[dict[str, Any]], path: Path, title: str) -> None:
    """Two panels over time: p50/p95/p99 latency (ms) and completed requests per second (errors too)."""
    from hsctl.core.plotting import pyplot

    plt = pyplot()
    t = [row["t"] + 0.5 for row in timeline]
    fig, (lat, thr) = plt.subplots(2, 1, figsize=(8, 5.5), sharex=True)
    for key, style in (("p50_ms", "-"), ("p95_ms", "--"), ("p99_ms", ":")):
        values = [float("nan") if row[key] is None else row[key] for row in timeline]
        lat.plot(t, values, style, marker=".", label=key.removesuffix("_ms"))
    lat.set_ylabel("latency (ms)")
    lat.set_ylim(bottom=0)
    lat.legend(loc="upper left", fontsize="small")
    lat.grid(alpha=0.3)
    lat.set_title(title, fontsize="medium")
    thr.plot(t, [row["ok_rps"] for row in timeline], "-", marker=".", label="ok req/s")
    if any(row["failures"] for row in timeline):
        thr.plot(t, [row["error_rps"] for row in timeline], "-", color="tab:red", marker=".", label="errors/s")
    thr.set_ylabel("requests per second")
    thr.set_xlabel("seconds into the measured window")
    thr.set_ylim(bottom=0)
    thr.legend(loc="upper left", fontsize="small")
    thr.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
