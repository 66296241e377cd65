"""Experiment tracking with wandb, which must never block a run.

``auto`` uses wandb when ``WANDB_API_KEY`` is set. When the wandb server cannot
be reached within a few seconds the run switches to offline mode (sync later
with ``wandb sync``) instead of waiting minutes. ``WANDB_MODE=disabled`` turns
tracking off whatever the settings say, as it does for wandb itself.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    from hsctl.settings import TrackingSettings

PROBE_TIMEOUT_S = 3.0
log = logging.getLogger(__name__)


@dataclass
class TrackingPlan:
    """The effective tracking choice and why."""

    backend: str  # none | wandb | wandb-offline
    reason: str
    fell_back: bool = False
    disabled_by_env: bool = False  # asked for, but WANDB_MODE=disabled: worth one info line
    run_dir: Path | None = None  # the local run folder, once a run started (what ``wandb sync`` takes)

    @property
    def enabled(self) -> bool:
        """Whether wandb is used at all."""
        return self.backend != "none"


def wandb_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """A TCP connect to the wandb server, so an unreachable server costs seconds, not minutes."""
    url = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "api.wandb.ai", port), timeout=timeout):
            return True
    except OSError:
        return False


def plan_tracking(cfg: TrackingSettings) -> TrackingPlan:
    """Resolve ``auto`` and fall back to offline when the server is unreachable (logged at info level, ``-v``)."""
    plan = _plan(cfg)
    log.info("experiment tracking: %s (%s)", plan.backend, plan.reason)
    return plan


def _plan(cfg: TrackingSettings) -> TrackingPlan:
    backend = cfg.backend
    if backend == "auto":
        if not os.environ.get("WANDB_API_KEY"):
            return TrackingPlan("none", "WANDB_API_KEY is not set")
        backend = "wandb"
    if backend == "none":
        return TrackingPlan("none", "tracking disabled")
    if os.environ.get("WANDB_MODE", "").strip().lower() == "disabled":
        return TrackingPlan("none", f"tracking {backend} is off: WANDB_MODE=disabled", disabled_by_env=True)
    if backend == "wandb" and os.environ.get("WANDB_MODE", "").lower() != "offline" and not wandb_reachable():
        return TrackingPlan(
            "wandb-offline", "the wandb server is unreachable: logging offline (wandb sync later)", fell_back=True
        )
    return TrackingPlan(backend, "as configured")


def wandb_root(wandb_dir: Path) -> Path:
    """The ``dir`` to give wandb so that its runs land in ``wandb_dir`` itself.

    wandb always writes to ``<dir>/wandb/``; passing ``artifacts/wandb`` gave ``artifacts/wandb/wandb``.
    """
    return wandb_dir.parent if wandb_dir.name == "wandb" else wandb_dir


def configure_wandb_env(plan: TrackingPlan, cfg: TrackingSettings, wandb_dir: Path, run_name: str) -> None:
    """Environment read by transformers' WandbCallback (it starts the run); runs go to ``wandb_dir``."""
    root_dir = wandb_root(wandb_dir)
    root_dir.mkdir(parents=True, exist_ok=True)
    os.environ["WANDB_DIR"] = str(root_dir)
    os.environ["WANDB_PROJECT"] = cfg.project
    os.environ["WANDB_NAME"] = run_name
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ["WANDB_INIT_TIMEOUT"] = "30"
    if cfg.entity:
        os.environ["WANDB_ENTITY"] = cfg.entity
    if plan.backend == "wandb-offline":
        os.environ["WANDB_MODE"] = "offline"


def log_final(
    plan: TrackingPlan,
    labels: list[str],
    y_true: list[int],
    y_pred: list[int],
    metrics: dict[str, Any],
    model_dir: Path,
) -> None:
    """Log the confusion matrix, final metrics and the model folder as an artifact, then finish."""
    if not plan.enabled:
        return
    import wandb

    run = wandb.run
    if run is None:
        return
    run.log(
        {
            "final/confusion_matrix": wandb.plot.confusion_matrix(y_true=y_true, preds=y_pred, class_names=labels),
            **{f"final/{k}": v for k, v in metrics.items() if isinstance(v, int | float)},
        }
    )
    artifact = wandb.Artifact(name=f"model-{run.name or run.id}", type="model", metadata=metrics)
    artifact.add_dir(str(model_dir))
    run.log_artifact(artifact)
    run.finish()


def start_run(
    plan: TrackingPlan, cfg: TrackingSettings, wandb_dir: Path, run_name: str, config: dict[str, Any]
) -> TrackingPlan:
    """Start the wandb run before training (the Trainer's callback then reuses it).

    The run's files go to ``<wandb_dir>/<mode>-run-<time>-<id>/`` (``run_dir`` of the
    returned plan). A server that accepts connections but refuses the run (bad key, proxy)
    makes ``wandb.init`` fail: log offline instead of failing the training run.
    """
    if not plan.enabled:
        return plan
    import wandb

    configure_wandb_env(plan, cfg, wandb_dir, run_name)
    kwargs: dict[str, Any] = {
        "project": cfg.project,
        "entity": cfg.entity,
        "name": run_name,
        "dir": str(wandb_root(wandb_dir)),
        "config": config,
    }
    try:
        run = wandb.init(
            **kwargs,
            mode="offline" if plan.backend == "wandb-offline" else "online",
            settings=wandb.Settings(init_timeout=30),
        )
        return replace(plan, run_dir=_sync_dir(run))
    except Exception as exc:  # wandb raises CommError, UsageError, timeouts...
        if plan.backend == "wandb-offline":
            raise
        os.environ["WANDB_MODE"] = "offline"
        run = wandb.init(**kwargs, mode="offline")
        return TrackingPlan(
            "wandb-offline",
            f"wandb refused the run ({type(exc).__name__}): logging offline",
            fell_back=True,
            run_dir=_sync_dir(run),
        )


def _sync_dir(run: Any) -> Path | None:
    """The local folder of a wandb run, the argument of ``wandb sync``."""
    sync_dir = getattr(getattr(run, "settings", None), "sync_dir", None)
    return Path(sync_dir) if sync_dir else None


def tracking_notes(plan: TrackingPlan) -> list[str]:
    """Lines worth telling the user about the tracking of a finished run (the CLI prints them)."""
    if plan.disabled_by_env:
        return [plan.reason]
    if plan.backend == "wandb-offline" and plan.run_dir is not None:
        where = f'"{plan.run_dir}"' if " " in str(plan.run_dir) else str(plan.run_dir)
        return [f"wandb offline run in {where}; upload it with: wandb sync {where}"]
    return []
