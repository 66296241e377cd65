"""Distributed batch scoring on Ray Data or Spark, with the same batch function as the local engine.

Both read CSV/TSV, JSON lines or Parquet, score with an ONNX predictor built once
per Ray actor or per Spark executor process (torch-free), and write a folder of
Parquet files. Ray and pyspark are optional extras (``hsctl[ray]``,
``hsctl[spark]``), imported only here, inside the functions.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.tables import table_format
from hsctl.errors import ConfigError, DataError
from hsctl.predict.batch import RayScorer, ScoringSpec, error_column, result_columns, spark_scorer

if TYPE_CHECKING:
    from hsctl.predict import PredictResult
    from hsctl.settings import Settings


# Ray: an actor per core would reserve every logical CPU and leave none for the read and write tasks,
# which then never start. Actors reserve 90% of a CPU per ONNX thread, reads and writes 10%.
ACTOR_CPU_SHARE = 0.9
IO_CPUS = 0.1


def run_engine(
    settings: Settings, spec: ScoringSpec, source: str, destination: str, *, started: float
) -> PredictResult:
    """Score ``source`` into the Parquet folder ``destination`` on ``predict.engine``; return the run summary."""
    from hsctl.models import read_model_info
    from hsctl.predict import summarise

    engine = settings.predict.engine
    fmt = input_format(source)
    info = read_model_info(Path(spec.model_dir))  # a bad model folder fails here, not on a worker
    # One ONNX thread per worker unless set: the engine runs one worker per core.
    spec = dataclasses.replace(spec, threads=spec.threads or 1)
    if engine == "ray":
        _run_ray(settings, spec, source, destination, fmt)
    else:
        _run_spark(settings, spec, source, destination, fmt)
    tally = count_output(destination)
    return summarise(
        tally=tally,
        labels=info.labels,
        output=destination,
        model_version=info.version,
        backend=spec.backend,
        threshold=info.threshold,
        started=started,
        warnings=[],
        engine=engine,
        chunks=0,
    )


def input_format(source: str) -> str:
    """The format of a file, a folder (its files' suffix) or a URL (its suffix); Parquet when there is none."""
    path = Path(source.rstrip("/"))
    if "://" not in source:
        if not path.exists():
            raise DataError(f"file not found: {source}")
        if path.is_dir():
            found = next((table_format(p) for p in sorted(path.rglob("*")) if p.is_file() and table_format(p)), None)
            if found is None:
                raise DataError(f"no CSV, TSV, JSON lines or Parquet files in {source}")
            return found
    fmt = table_format(path) or "parquet"
    if fmt == "json":
        raise ConfigError("the ray and spark engines read CSV, TSV, JSON lines or Parquet, not a JSON array")
    return fmt


def count_output(folder: str) -> Any:
    """Rows, scored rows, rows without text and label counts of a written Parquet folder (two columns read)."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from hsctl.predict import Tally

    dataset = ds.dataset(folder, format="parquet")
    names = dataset.schema.names
    label, error = names[-2], names[-1]  # the scorer appends probability, label and error columns
    tally = Tally()
    row = 1
    for batch in dataset.to_batches(columns=[label, error]):
        errors = batch.column(1).is_valid().to_numpy(zero_copy_only=False)
        counts = pc.value_counts(batch.column(0).drop_null()).to_pylist()
        tally.add(
            {
                "rows": batch.num_rows,
                "scored": int((~errors).sum()),
                "bad": int(errors.sum()),
                "bad_numbers": [row + int(i) for i in errors.nonzero()[0][:100]],
                "label_counts": {str(c["values"]): int(c["counts"]) for c in counts},
            }
        )
        row += batch.num_rows
    return tally


def _missing_extra(engine: str, exc: ImportError) -> ConfigError:
    return ConfigError(f"the {engine} engine needs the {engine} extra: pip install 'hsctl[{engine}]' ({exc})")


def _run_ray(settings: Settings, spec: ScoringSpec, source: str, destination: str, fmt: str) -> None:
    """Ray Data: read, ``map_batches`` with one predictor per actor, write Parquet; order is kept."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise _missing_extra("ray", exc) from exc
    cfg = settings.predict
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=cfg.ray_address,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.WARNING,
        )
        logging.getLogger("ray.data").setLevel(logging.WARNING)
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        data = _ray_read(source, fmt)
        names = data.schema().names
        if spec.text_column not in names:  # fail here with one line, not in every actor
            found = ", ".join(names) or "(none)"
            raise DataError(
                f"{source}: missing column {spec.text_column!r} (found: {found}); choose it with --text-column"
            )
        threads = spec.threads or 1
        workers = cfg.workers or max(1, int(ray.available_resources().get("CPU", 1) // threads))
        scored = data.map_batches(
            RayScorer,
            fn_constructor_kwargs={"spec": spec},
            batch_format="pandas",
            batch_size=cfg.chunk_rows,
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=threads * ACTOR_CPU_SHARE,
        )
        _clear(destination)
        _write_in_order(scored, destination)
    finally:
        if started_here:
            ray.shutdown()


def _write_in_order(scored: Any, destination: str) -> None:
    """One Parquet file per block, numbered in input order (``part-000000.parquet`` ...).

    Ray's own ``write_parquet`` names files by write task, and those do not always
    follow the input order (a short last block could be written before the one
    ahead of it), so reading the folder back gave the rows out of order. Iterating
    with ``preserve_order`` and writing from the driver keeps the order that
    ``--engine local`` has; scoring stays on the actors.
    """
    import pyarrow.parquet as pq

    folder = Path(destination)
    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for table in scored.iter_batches(batch_format="pyarrow", batch_size=None):
        if table.num_rows or not written:  # an empty input still leaves one (empty) file with the columns
            pq.write_table(table, folder / f"part-{written:06d}.parquet")
            written += 1


def _ray_read(source: str, fmt: str) -> Any:
    """Every CSV column as text (as the local engine reads it), JSON lines and Parquet as typed."""
    import ray.data

    # A single file is read whatever its suffix; in a folder, Ray's default suffix filter skips other files.
    any_suffix: dict[str, Any] = {"file_extensions": None} if Path(source).is_file() else {}
    if fmt == "parquet":
        return ray.data.read_parquet(source, num_cpus=IO_CPUS)
    if fmt == "jsonl":
        return ray.data.read_json(source, lines=True, num_cpus=IO_CPUS, **any_suffix)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    parse = pacsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
    first = _first_file(source)
    names: list[str] = []
    if first is not None:  # every column as text needs the header: read it from the first file
        with pacsv.open_csv(pa.input_stream(str(first), compression="detect"), parse_options=parse) as head:
            names = head.schema.names
    convert = pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False)
    return ray.data.read_csv(source, parse_options=parse, convert_options=convert, num_cpus=IO_CPUS, **any_suffix)


def _first_file(source: str) -> Path | None:
    """The first table file of a local file or folder; None for a URL."""
    path = Path(source)
    if "://" in source:
        return None
    if path.is_dir():
        return next((p for p in sorted(path.rglob("*")) if p.is_file() and table_format(p)), None)
    return path


def _clear(destination: str) -> None:
    """An earlier run's files in the output folder would be read as part of this one: remove them."""
    path = Path(destination)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        raise ConfigError(f"{destination} is a file: the ray and spark engines write a folder of Parquet files")


def spark_session(settings: Settings) -> tuple[Any, bool]:
    """The active Spark session, or a new one on ``predict.spark_master`` (default ``local[*]``); True if new."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise _missing_extra("spark", exc) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active, False
    master = settings.predict.spark_master or "local[*]"
    if master.startswith("local") and shutil.which("java") is None and not _java_home():
        raise ConfigError(
            "the spark engine needs a Java runtime (17 or later): install one (Debian: default-jre-headless) "
            "or set JAVA_HOME"
        )
    builder = (
        SparkSession.builder.appName("hsctl-predict")
        .master(master)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master.startswith("local"):  # local workers must run this interpreter, the one with hsctl installed
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return builder.getOrCreate(), True


def _java_home() -> bool:
    home = os.environ.get("JAVA_HOME")
    return home is not None and Path(home, "bin", "java").is_file()


def _run_spark(settings: Settings, spec: ScoringSpec, source: str, destination: str, fmt: str) -> None:
    """Spark: read, ``mapInPandas`` with one predictor per executor process, write Parquet."""
    from pyspark.sql.types import DoubleType, StringType, StructField, StructType

    cfg = settings.predict
    spark, started_here = spark_session(settings)
    try:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", str(cfg.chunk_rows))
        if fmt == "parquet":
            frame = spark.read.parquet(source)
        elif fmt == "jsonl":
            frame = spark.read.json(source)
            if Path(source).is_file():  # Spark sorts inferred JSON fields: restore the file's order
                frame = frame.select(*_json_key_order(source, frame.columns))
        else:
            frame = spark.read.csv(source, header=True, sep="\t" if fmt == "tsv" else ",")
        if spec.text_column not in frame.columns:
            found = ", ".join(frame.columns) or "(none)"
            raise DataError(
                f"{source}: missing column {spec.text_column!r} (found: {found}); choose it with --text-column"
            )
        if cfg.workers:
            frame = frame.repartition(cfg.workers)
        prob, label = result_columns(frame.columns)
        error = error_column(frame.columns)
        spec = dataclasses.replace(spec, prob_column=prob, label_column=label, error_column=error)
        schema = StructType(
            [
                *frame.schema.fields,
                StructField(prob, DoubleType(), True),
                StructField(label, StringType(), True),
                StructField(error, StringType(), True),
            ]
        )
        _clear(destination)
        frame.mapInPandas(spark_scorer(spec), schema).write.mode("overwrite").parquet(destination)
    finally:
        if started_here:
            spark.stop()


def _json_key_order(source: str, columns: list[str]) -> list[str]:
    """The columns in the order of the first JSON line (then any others Spark found)."""
    with open(source, encoding="utf-8") as fh:
        first = fh.readline()
    try:
        keys = [k for k in json.loads(first) if k in columns]
    except (ValueError, TypeError):
        keys = []
    return keys + [c for c in columns if c not in keys]
