"""Read any supported source into canonical frames with columns text, label, category.

Sources: a hub dataset id, local table files or globs, a ``save_to_disk``
directory, or ``demo``. Every reader that takes "any file fetch reads"
(evaluate, predict, drift, loadtest) goes through :func:`read_source`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from hsctl.core.hub import hub_offline, resolve_revision
from hsctl.core.io import sha256_file
from hsctl.core.tables import GLOB_CHARS, expand_paths, read_table, table_format
from hsctl.errors import DataError, HubUnreachableError

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.settings import DataSettings

SourceKind = Literal["hub", "files", "disk", "demo"]
TEXT, LABEL, CATEGORY = "text", "label", "category"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "test": "test",
    "testing": "test",
    "validation": "validation",
    "valid": "validation",
    "val": "validation",
    "dev": "validation",
}
OFFLINE_HINT = "use --source PATH with a local CSV/JSONL/Parquet file, or --source demo"


@dataclass
class SourceData:
    """Canonical frames per split, plus where they came from."""

    kind: SourceKind
    splits: dict[str, pd.DataFrame]
    revision: str | None = None
    files: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how files were read, e.g. a detected delimiter


def classify_source(source: str) -> SourceKind:
    """Decide what a ``--source`` string names, without touching the network."""
    if source == "demo":
        return "demo"
    path = Path(source)
    if path.is_dir() and ((path / "dataset_dict.json").is_file() or (path / "state.json").is_file()):
        return "disk"
    if path.exists() or any(ch in source for ch in GLOB_CHARS):
        return "files"
    if table_format(path) is not None or source.startswith((".", "/", "~")):
        raise DataError(f"file not found: {source}")
    if _HUB_ID.match(source):
        return "hub"
    raise DataError(f"source not found: {source!r} is neither a local path nor a hub dataset id (owner/name)")


def split_name(stem: str) -> str:
    """Map a file stem or hub split to train/validation/test (others kept as is)."""
    return _SPLIT_ALIASES.get(stem.lower(), stem.lower())


def read_source(
    source: str,
    data: DataSettings,
    *,
    require_label: bool = True,
    demo_seed: int = 13,
    encoding: str | None = None,
) -> SourceData:
    """Read a source into canonical frames, applying the column mapping of ``data``.

    ``encoding`` applies to text files (CSV, TSV, JSON); default UTF-8.
    """
    kind = classify_source(source)
    raw: dict[str, pd.DataFrame]
    revision: str | None = None
    files: list[dict[str, str]] = []
    if kind == "demo":
        from hsctl.fetch.demo import demo_frame

        raw = {"train": demo_frame(data.demo_rows, seed=demo_seed)}
        # The demo frame uses the hub dataset's column names, whatever the settings say.
        return SourceData(
            kind="demo",
            splits={"train": canonicalize(raw["train"], "tweet", "label", "categories", None, require_label, "demo")},
        )
    notes: list[str] = []
    if kind == "files":
        raw, files, notes = _read_files(source, encoding)
    elif kind == "disk":
        raw = _read_disk(Path(source))
    else:
        raw, revision = _read_hub(source, data)
    splits = {
        name: canonicalize(
            frame,
            data.text_column,
            data.label_column,
            data.category_column,
            data.label_map,
            require_label,
            source if len(raw) == 1 else f"{source} [{name}]",
        )
        for name, frame in raw.items()
    }
    return SourceData(kind=kind, splits=splits, revision=revision, files=files, notes=notes)


def _read_files(
    source: str, encoding: str | None = None
) -> tuple[dict[str, pd.DataFrame], list[dict[str, str]], list[str]]:
    import pandas as pd

    paths = expand_paths(source)
    for path in paths:
        if table_format(path) is None:
            raise DataError(f"unsupported file type for {path}: use .csv, .tsv, .jsonl, .json or .parquet")
    by_split: dict[str, list[pd.DataFrame]] = {}
    known = {split_name(p.name.split(".")[0]) for p in paths} <= {"train", "validation", "test"}
    notes: list[str] = []
    for path in paths:
        name = split_name(path.name.split(".")[0]) if known and len(paths) > 1 else "train"
        frame = read_table(path, encoding=encoding)
        if "delimiter" in frame.attrs:
            notes.append(f"read {path} with {_DELIMITER_NAMES.get(frame.attrs['delimiter'], 'a')} delimiter (detected)")
        by_split.setdefault(name, []).append(frame)
    frames = {name: pd.concat(parts, ignore_index=True) for name, parts in by_split.items()}
    files = [{"path": str(p), "sha256": sha256_file(p)} for p in paths]
    return frames, files, notes


_DELIMITER_NAMES = {";": "a ';'", "\t": "a tab", "|": "a '|'", ",": "a ','"}


def _read_disk(path: Path) -> dict[str, pd.DataFrame]:
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError, OSError) as exc:
        raise DataError(f"cannot load dataset saved at {path}: {exc}") from exc
    if isinstance(loaded, datasets.DatasetDict):
        return {split_name(name): ds.to_pandas() for name, ds in loaded.items()}  # type: ignore[misc]
    return {"train": loaded.to_pandas()}  # type: ignore[dict-item]


def _read_hub(repo_id: str, data: DataSettings) -> tuple[dict[str, pd.DataFrame], str]:
    import datasets

    if hub_offline():
        revision = data.revision or "main"
    else:
        revision = resolve_revision(
            repo_id, repo_type="dataset", revision=data.revision, timeout=data.hub_timeout_s, hint=OFFLINE_HINT
        )
    try:
        loaded = datasets.load_dataset(repo_id, revision=revision)
    except Exception as exc:  # datasets wraps network and cache failures in many types
        if hub_offline():
            raise HubUnreachableError(
                f"HF_HUB_OFFLINE is set and dataset {repo_id!r} is not in the local cache", hint=OFFLINE_HINT
            ) from exc
        raise HubUnreachableError(f"downloading dataset {repo_id!r} failed: {exc}", hint=OFFLINE_HINT) from exc
    return {split_name(name): ds.to_pandas() for name, ds in loaded.items()}, revision  # type: ignore[union-attr]


def canonicalize(
    frame: pd.DataFrame,
    text_column: str,
    label_column: str,
    category_column: str | None,
    label_map: dict[str, int] | None,
    require_label: bool,
    origin: str,
) -> pd.DataFrame:
    """Rename the source columns to text/label/category and apply the label map.

    Labels that are not integers (after the map) are kept as strings so that
    ``preprocess`` can report them by row; nothing is silently dropped here.
    Columns other than the mapped ones are kept, for batch prediction.
    """
    import pandas as pd

    wanted = [text_column] + ([label_column] if require_label else [])
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns)) or "(none)"
        flags = " and ".join(f"--{'text' if c == text_column else 'label'}-column" for c in missing)
        raise DataError(
            f"{origin}: missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
            f"(found: {have}); map yours with {flags}"
        )
    out = pd.DataFrame(index=frame.index)
    out[TEXT] = frame[text_column].map(lambda v: None if _is_null(v) else str(v)).astype(object)
    if label_column in frame.columns:
        out[LABEL] = _labels(frame[label_column], label_map)
    if category_column and category_column in frame.columns:
        out[CATEGORY] = frame[category_column].map(_category).astype(object)
    extra = [c for c in frame.columns if c not in {text_column, label_column, category_column}]
    for column in extra:
        if column not in out.columns:
            out[column] = frame[column]
    return out.reset_index(drop=True)


def _is_null(value: object) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # lists and arrays are not null
        return False


def _category(value: object) -> str | None:
    if _is_null(value):
        return None
    if isinstance(value, list | tuple):
        value = ", ".join(map(str, value))
    text = str(value).strip()
    return text or None


def _labels(series: pd.Series, label_map: dict[str, int] | None) -> pd.Series:

    def convert(value: object) -> object:
        if _is_null(value):
            return None
        if label_map is not None:
            key = str(value).strip()
            if key in label_map:
                return label_map[key]
        if isinstance(value, bool):
            return int(value)
        try:
            number = float(str(value).strip())
        except ValueError:
            return str(value)
        return int(number) if number.is_integer() else str(value)

    converted = series.map(convert)
    if converted.map(lambda v: isinstance(v, int)).all():
        return converted.astype("int64")
    # Mixed or string labels: keep them as text so they survive Parquet for validation.
    return converted.map(lambda v: None if v is None else str(v)).astype(object)
