"""Headless matplotlib for every report that draws (evaluate, drift, preprocess, loadtest)."""

from __future__ import annotations

from typing import Any

# One size for report plots: readable on a laptop screen and in a pull request (960 x 780 px).
FIGSIZE = (6.4, 5.2)
DPI = 150


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend: works without a display and never opens a window."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 13, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def figure() -> tuple[Any, Any]:
    """A new report figure and its axes, at the shared size."""
    fig, ax = pyplot().subplots(figsize=FIGSIZE)
    return fig, ax
