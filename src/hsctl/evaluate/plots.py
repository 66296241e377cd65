"""ROC, precision-recall, confusion-matrix and reliability plots as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.plotting import pyplot

if TYPE_CHECKING:
    import numpy.typing as npt


def write_plots(
    y: npt.ArrayLike, probs: npt.ArrayLike, threshold: float, labels: list[str], out_dir: Path
) -> dict[str, str]:
    """Write the four plots and return their file names by kind."""
    import numpy as np
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import ConfusionMatrixDisplay, PrecisionRecallDisplay, RocCurveDisplay

    plt = pyplot()
    y_arr, p = np.asarray(y), np.asarray(probs)
    files: dict[str, str] = {}
    both = len(np.unique(y_arr)) > 1

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=100)
        plt.close(fig)
        files[name.removesuffix(".png")] = name

    if both:
        fig, ax = plt.subplots(figsize=(4.5, 4))
        RocCurveDisplay.from_predictions(y_arr, p, ax=ax, name="model")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8)
        ax.set_title("ROC")
        save(fig, "roc.png")
        fig, ax = plt.subplots(figsize=(4.5, 4))
        PrecisionRecallDisplay.from_predictions(y_arr, p, ax=ax, name="model")
        ax.set_title("Precision-recall")
        save(fig, "pr.png")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ConfusionMatrixDisplay.from_predictions(
        y_arr, (p >= threshold).astype(int), labels=[0, 1], display_labels=labels, ax=ax, colorbar=False
    )
    ax.set_title(f"Confusion matrix (threshold {threshold:.3f})")
    save(fig, "confusion.png")
    if both:
        frac_pos, mean_pred = calibration_curve(y_arr, p, n_bins=10, strategy="uniform")
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
        ax.plot(mean_pred, frac_pos, "o-", label="model")
        ax.set_xlabel(f"predicted P({labels[1]})")
        ax.set_ylabel("observed frequency")
        ax.set_title("Reliability")
        ax.legend()
        save(fig, "reliability.png")
    return files
