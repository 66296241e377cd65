"""Stratified, seeded train/validation/test splitting."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hsctl.errors import DataError
from hsctl.fetch.sources import LABEL

if TYPE_CHECKING:
    import pandas as pd

    from hsctl.settings import SplitSettings


def _split_off(
    frame: pd.DataFrame, size: float, seed: int, stratify: bool, warnings: list[str], what: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``frame`` into (rest, held_out) with ``size`` as the held-out share."""
    from sklearn.model_selection import train_test_split

    if len(frame) < 2:
        raise DataError(f"too few rows ({len(frame)}) to split off a {what} set")
    strata = frame[LABEL] if stratify else None
    try:
        rest, held = train_test_split(frame, test_size=size, random_state=seed, stratify=strata)
    except ValueError:
        if not stratify:
            raise
        warnings.append(f"too few rows per label to stratify the {what} split; split without stratification")
        rest, held = train_test_split(frame, test_size=size, random_state=seed, stratify=None)
    return rest, held


def make_splits(splits: dict[str, pd.DataFrame], cfg: SplitSettings, warnings: list[str]) -> dict[str, pd.DataFrame]:
    """Return train/validation/test frames; source validation and test splits are kept as they are."""
    train = splits.get("train")
    if train is None:
        raise DataError(f"no 'train' split in the raw data (found: {', '.join(splits) or 'none'})")
    out: dict[str, pd.DataFrame] = {}
    pool = train
    total = sum(len(f) for f in splits.values())
    if "test" in splits:
        out["test"] = splits["test"]
    elif cfg.test_size > 0:
        pool, out["test"] = _split_off(pool, cfg.test_size, cfg.seed, cfg.stratify, warnings, "test")
    if "validation" in splits:
        out["validation"] = splits["validation"]
    else:
        # Validation share is of all rows, so convert it to a share of what is left in the pool.
        share = min(0.5, cfg.validation_size * total / max(len(pool), 1))
        pool, out["validation"] = _split_off(pool, share, cfg.seed + 1, cfg.stratify, warnings, "validation")
    out["train"] = pool
    for name, frame in out.items():
        if len(frame) == 0:
            raise DataError(f"the {name} split is empty; use more data or change data.split sizes")
    return {
        name: out[name].sort_index().reset_index(drop=True) for name in ("train", "validation", "test") if name in out
    }
