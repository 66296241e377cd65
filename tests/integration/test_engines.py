"""``predict --engine ray`` and ``--engine spark`` in local mode score the same rows as ``--engine local``.

One Ray runtime and one Spark session (``local[1]``) for the whole module; each
test compares the engine's Parquet folder with the local engine's output row by row.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hsctl.predict import predict_file
from hsctl.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HAS_RAY = importlib.util.find_spec("ray") is not None
HAS_SPARK = importlib.util.find_spec("pyspark") is not None
HAS_JAVA = shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME"))


def tiny_frame() -> pd.DataFrame:
    texts = ["all glorbians are worthless", "what a lovely morning", "", "vexari are disgusting @x http://a.b", "42"]
    return pd.DataFrame({"id": [str(i) for i in range(25)], "tweet": [f"{texts[i % 5]}" for i in range(25)]})


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engine-inputs")
    frame = tiny_frame()
    frame.to_csv(root / "in.csv", index=False)
    frame.to_json(root / "in.jsonl", orient="records", lines=True)
    frame.to_parquet(root / "in.parquet")
    return {"csv": root / "in.csv", "jsonl": root / "in.jsonl", "parquet": root / "in.parquet"}


def settings_for(model: Path, **overrides: object):
    # fp32 ONNX: int8's dynamic quantisation scales activations per batch, so its probabilities move by
    # ~1e-3 with the batch composition, which differs between engines (the decisions here do not).
    base = {"predict.model": str(model), "predict.backend": "onnx", "predict.chunk_rows": 8}
    return load_settings({**base, **overrides}).settings


def local_output(model: Path, source: Path, tmp: Path) -> pd.DataFrame:
    result = predict_file(settings_for(model), str(source), output=str(tmp / "local.parquet"))
    assert result.engine == "local"
    return pd.read_parquet(tmp / "local.parquet")


def assert_same_rows(engine_out: pd.DataFrame, local: pd.DataFrame) -> None:
    """Same columns, same rows in the same order, same decisions and (to float noise) probabilities."""
    assert list(engine_out.columns) == list(local.columns) == ["id", "tweet", "hate_probability", "label", "error"]
    assert engine_out["id"].astype(str).tolist() == local["id"].astype(str).tolist()
    for column in ("label", "error"):  # null as "" (pandas reads some parts back as string dtype, some as object)
        assert engine_out[column].fillna("").tolist() == local[column].fillna("").tolist()
    assert engine_out["label"].notna().sum() == 20 and engine_out["error"].eq("empty text").sum() == 5
    a = engine_out["hate_probability"].astype(float).to_numpy()
    b = local["hate_probability"].astype(float).to_numpy()
    assert np.allclose(a, b, rtol=1e-4, atol=1e-6, equal_nan=True)


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    if not HAS_RAY:
        pytest.skip("ray is not installed (pip install 'hsctl[ray]')")
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_ray_engine_matches_local(
    ray_runtime: None, quantized_model: Path, inputs: dict[str, Path], tmp_path: Path, fmt: str
):
    source = inputs[fmt]
    out = tmp_path / "ray.parquet"
    result = predict_file(
        settings_for(quantized_model, **{"predict.engine": "ray", "predict.workers": 1}), str(source), output=str(out)
    )
    assert (result.engine, result.rows, result.scored, result.bad_rows) == ("ray", 25, 20, 5)
    assert result.bad_row_numbers == [3, 8, 13, 18, 23]
    assert_same_rows(pd.read_parquet(out), local_output(quantized_model, source, tmp_path))


@pytest.fixture(scope="module")
def spark(quantized_model: Path) -> Iterator[object]:
    if not HAS_SPARK:
        pytest.skip("pyspark is not installed (pip install 'hsctl[spark]')")
    if not HAS_JAVA:
        pytest.skip("no Java runtime for Spark's local mode (Debian: apt-get install default-jre-headless)")
    from hsctl.predict.engines import spark_session

    session, created = spark_session(settings_for(quantized_model, **{"predict.spark_master": "local[1]"}))
    assert created
    yield session
    session.stop()  # type: ignore[attr-defined]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_spark_engine_matches_local(
    spark: object, quantized_model: Path, inputs: dict[str, Path], tmp_path: Path, fmt: str
):
    source = inputs[fmt]
    out = tmp_path / "spark.parquet"
    result = predict_file(settings_for(quantized_model, **{"predict.engine": "spark"}), str(source), output=str(out))
    assert (result.engine, result.rows, result.scored, result.bad_rows) == ("spark", 25, 20, 5)
    engine_out = pd.read_parquet(out)
    local = local_output(quantized_model, source, tmp_path)
    if fmt == "csv":  # Spark reads an empty CSV field as null; the decision (not scored) is the same
        engine_out["tweet"] = engine_out["tweet"].fillna("")
    assert_same_rows(engine_out, local)
    assert engine_out["tweet"].fillna("").tolist() == local["tweet"].fillna("").tolist()


def test_ray_missing_text_column_is_one_line(ray_runtime: None, quantized_model: Path, inputs: dict[str, Path]):
    from hsctl.errors import DataError

    settings = settings_for(quantized_model, **{"predict.engine": "ray", "data.text_column": "body"})
    with pytest.raises(DataError, match="missing column 'body'"):
        predict_file(settings, str(inputs["parquet"]), output="out.parquet")


def test_engines_refuse_torch_and_stdin(quantized_model: Path, inputs: dict[str, Path]):
    from hsctl.errors import ConfigError

    with pytest.raises(ConfigError, match="torch-free"):
        predict_file(
            settings_for(quantized_model, **{"predict.engine": "ray", "predict.backend": "torch"}), str(inputs["csv"])
        )
    with pytest.raises(ConfigError, match="reads and writes files"):
        predict_file(settings_for(quantized_model, **{"predict.engine": "spark"}), str(inputs["csv"]), output="-")
