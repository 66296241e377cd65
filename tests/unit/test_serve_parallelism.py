"""How a worker spreads inference over its cores: serve.batch_lanes, serve.threads, serve.model_batch_size."""

from __future__ import annotations

import pytest

from hsctl.core.env import usable_cpus
from hsctl.serve.model import Parallelism, parallelism


@pytest.mark.parametrize(
    ("backend", "workers", "lanes", "threads", "cores", "expected"),
    [
        # ONNX, nothing set: one single-threaded lane per core of the worker, chunks of 4
        ("onnx-int8", 1, None, None, 2, Parallelism(2, 1, 4)),
        ("onnx-auto", 1, None, None, 8, Parallelism(8, 1, 4)),
        ("onnx", 2, None, None, 8, Parallelism(4, 1, 4)),
        ("onnx", 4, None, None, 2, Parallelism(1, 1, 4)),  # more workers than cores: still one lane each
        # one set, the other follows from the cores
        ("onnx", 1, 1, None, 8, Parallelism(1, 8, 8)),  # the former default: one call on every core
        ("onnx", 1, None, 2, 8, Parallelism(4, 2, 8)),
        ("onnx", 1, 3, None, 8, Parallelism(3, 2, 8)),
        # both set: as given
        ("onnx", 1, 2, 3, 2, Parallelism(2, 3, 8)),
        # torch: one lane, torch's own threads unless told
        ("torch", 1, None, None, 8, Parallelism(1, None, 8)),
        ("torch", 1, 2, 4, 8, Parallelism(2, 4, 8)),
    ],
)
def test_unset_values_follow_from_the_cores(backend, workers, lanes, threads, cores, expected):
    assert parallelism(backend, workers=workers, lanes=lanes, threads=threads, cores=cores) == expected


def test_model_batch_size_given_wins():
    plan = parallelism("onnx", workers=1, lanes=None, threads=None, model_batch_size=16, cores=2)
    assert plan == Parallelism(2, 1, 16)


def test_unset_cores_are_the_process_cpu_set(monkeypatch: pytest.MonkeyPatch):
    import hsctl.serve.model as served

    monkeypatch.setattr(served, "usable_cpus", lambda: 6)
    assert parallelism("onnx", workers=2, lanes=None, threads=None) == Parallelism(3, 1, 4)
    monkeypatch.setattr(served, "usable_cpus", lambda: None)  # unknown: one core
    assert parallelism("onnx", workers=1, lanes=None, threads=None) == Parallelism(1, 1, 4)


def test_usable_cpus_is_this_process_cpu_set():
    import os

    cores = usable_cpus()
    assert cores is not None and cores >= 1
    if hasattr(os, "sched_getaffinity"):
        assert cores == len(os.sched_getaffinity(0))
