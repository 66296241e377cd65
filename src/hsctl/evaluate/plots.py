"""ROC, precision-recall, confusion-matrix and reliability plots as PNG files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.plotting import DPI, figure, pyplot

if TYPE_CHECKING:
    import numpy.typing as npt


def write_plots(
    y: npt.ArrayLike, probs: npt.ArrayLike, threshold: float, labels: list[str], out_dir: Path
) -> dict[str, str]:
    """Write the four plots and return their file names by kind.

    Axes name the classes (``labels``, negative first) and every curve marks
    the operating threshold, so a reader sees where the model actually runs.
    """
    import numpy as np
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import ConfusionMatrixDisplay, precision_recall_curve, roc_auc_score, roc_curve

    plt = pyplot()
    y_arr, p = np.asarray(y), np.asarray(probs)
    files: dict[str, str] = {}
    both = len(np.unique(y_arr)) > 1
    positive = labels[1] if len(labels) > 1 else "positive"
    at = p >= threshold
    mark = f"threshold {threshold:.3f}"

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(out_dir / name, dpi=DPI)
        plt.close(fig)
        files[name.removesuffix(".png")] = name

    if both:
        fpr, tpr, _ = roc_curve(y_arr, p)
        fig, ax = figure()
        ax.plot(fpr, tpr, lw=2, label=f"model (AUC {roc_auc_score(y_arr, p):.3f})")
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="chance")
        ax.plot([at[y_arr == 0].mean()], [at[y_arr == 1].mean()], "o", color="crimson", ms=9, label=mark)
        ax.set(xlabel=f"false positive rate ({labels[0]} flagged as {positive})",
               ylabel=f"true positive rate ({positive} recall)", title=f"ROC: {positive} vs {labels[0]}")  # fmt: skip
        ax.legend(loc="lower right")
        save(fig, "roc.png")
        precision, recall, _ = precision_recall_curve(y_arr, p)
        fig, ax = figure()
        ax.plot(recall, precision, lw=2, label="model")
        ax.axhline(y_arr.mean(), color="k", ls="--", lw=0.8, label=f"base rate {y_arr.mean():.3f}")
        flagged = max(int(at.sum()), 1)
        ax.plot([at[y_arr == 1].mean()], [(at & (y_arr == 1)).sum() / flagged], "o", color="crimson", ms=9, label=mark)
        ax.set(xlabel=f"recall ({positive})", ylabel=f"precision ({positive})", title=f"Precision-recall: {positive}")
        ax.legend(loc="lower left")
        save(fig, "pr.png")
    fig, ax = figure()
    ConfusionMatrixDisplay.from_predictions(
        y_arr, at.astype(int), labels=[0, 1], display_labels=labels, ax=ax, colorbar=False
    )
    ax.grid(False)
    ax.set(xlabel="predicted", ylabel="true", title=f"Confusion matrix at {mark}")
    save(fig, "confusion.png")
    if both:
        frac_pos, mean_pred = calibration_curve(y_arr, p, n_bins=10, strategy="uniform")
        fig, ax = figure()
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect calibration")
        ax.plot(mean_pred, frac_pos, "o-", lw=2, label="model")
        ax.axvline(threshold, color="crimson", lw=1.2, label=mark)
        ax.set(xlabel=f"predicted P({positive})", ylabel=f"observed share of {positive}", title="Reliability")
        ax.legend(loc="upper left")
        save(fig, "reliability.png")
    return files
