"""Statistics and the label-distribution plot written beside the processed data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.fetch.sources import CATEGORY, LABEL, TEXT

if TYPE_CHECKING:
    import pandas as pd

PERCENTILES = (5, 25, 50, 75, 95, 99)


def _percentiles(values: Sequence[int]) -> dict[str, float]:
    import numpy as np

    if len(values) == 0:
        return {}
    arr = np.asarray(values)
    out = {f"p{p}": float(np.percentile(arr, p)) for p in PERCENTILES}
    out["max"] = float(arr.max())
    out["mean"] = round(float(arr.mean()), 2)
    return out


def split_stats(frame: pd.DataFrame, label_names: Sequence[str]) -> dict[str, Any]:
    """Rows, label balance, length percentiles and category counts of one split."""
    counts = frame[LABEL].value_counts().to_dict()
    rows = len(frame)
    labels = {
        name: {"count": int(counts.get(i, 0)), "share": round(counts.get(i, 0) / rows, 4) if rows else 0.0}
        for i, name in enumerate(label_names)
    }
    texts = frame[TEXT].tolist()
    stats: dict[str, Any] = {
        "rows": rows,
        "labels": labels,
        "length_chars": _percentiles([len(t) for t in texts]),
        "length_words": _percentiles([len(t.split()) for t in texts]),
    }
    if CATEGORY in frame.columns:
        cats = frame[CATEGORY].dropna().value_counts()
        stats["categories"] = {str(k): int(v) for k, v in cats.items()}
    return stats


def plot_label_distribution(stats: dict[str, dict[str, Any]], label_names: Sequence[str], path: Path) -> None:
    """A grouped bar chart of label counts per split."""
    import numpy as np

    from hsctl.core.plotting import pyplot

    plt = pyplot()

    splits = list(stats)
    x = np.arange(len(splits))
    width = 0.8 / len(label_names)
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    try:
        for i, name in enumerate(label_names):
            counts = [stats[s]["labels"][name]["count"] for s in splits]
            bars = ax.bar(x + (i - (len(label_names) - 1) / 2) * width, counts, width, label=name)
            ax.bar_label(bars, fontsize=8)
        ax.set_xticks(x, splits)
        ax.set_ylabel("rows")
        ax.set_title("Label distribution per split")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
