"""``train``: fine-tune a sequence classifier with the transformers Trainer.

Dynamic padding, length-grouped batches, class- and category-balanced row weights,
frozen bottom layers, warmup and decay, gradient clipping, checkpoint choice and early
stopping on a shift-aware score, a checkpoint per epoch (``--resume`` continues), a
calibrated decision at the deployment prior (:mod:`hsctl.train.decide`), the
behavioural suite, and an atomically written model folder with ``hsctl.json`` and a
model card. Runs unchanged under ``torchrun`` (DDP, gloo on CPU); only rank 0 writes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import atomic_dir, read_json, sha256_file, utc_now, write_json
from hsctl.core.layout import FETCH_MANIFEST, RUN_FILE
from hsctl.core.processed import load_processed, processed_normalization
from hsctl.errors import DataError, TrainingInterrupted
from hsctl.models import MODEL_CARD, model_version, set_latest
from hsctl.train.augment import Holdout, add_contrast, refuse_suite_leak

if TYPE_CHECKING:
    from hsctl.settings import Settings, TrainSettings
    from hsctl.train.base import BaseModelRef
    from hsctl.train.callbacks import TrainProgress

PRETRAINED_LR = 5e-5
SCRATCH_LR = 1e-3

__all__ = ["TrainResult", "TrainingInterrupted", "find_resumable", "load_processed", "resume_command", "train"]


@dataclass
class TrainResult:
    """Summary of a finished run (also in ``hsctl.json``)."""

    run_name: str
    model_dir: Path
    base_model: str
    threshold: float
    validation_metrics: dict[str, Any]
    shift_estimates: dict[str, Any]
    train_time_s: float
    samples_per_s: float
    global_step: int
    epochs_completed: float
    resumed_from: str | None = None
    tracking: str = "none"
    target_prior: float | None = None
    frozen_layers: int = 0
    functional_suite: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    tracking_run_dir: str | None = None  # the local wandb run folder (``wandb sync`` it when offline)
    notes: list[str] = field(default_factory=list)  # information for the user, e.g. the wandb sync command

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        return data


def default_run_name(model: str) -> str:
    """``<model basename>-<UTC timestamp>-<random suffix>``: two runs started together never share it."""
    from hsctl.train.runs import run_name_for

    return run_name_for(model)


def find_resumable(runs_dir: Path, run_name: str | None) -> Path:
    """The run folder to resume: the named one, else the newest unfinished run with a checkpoint."""
    candidates = [runs_dir / run_name] if run_name else sorted(runs_dir.glob("*"), key=lambda p: p.stat().st_mtime)
    for run_dir in reversed(candidates):
        meta = run_dir / RUN_FILE
        if meta.is_file() and read_json(meta).get("status") != "completed" and _last_checkpoint(run_dir):
            return run_dir
    where = f"run {run_name!r}" if run_name else f"{runs_dir}"
    raise DataError(f"nothing to resume in {where}: no unfinished run with a checkpoint")


def _last_checkpoint(run_dir: Path) -> Path | None:
    checkpoints = sorted((run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.rsplit("-", 1)[-1]))
    return checkpoints[-1] if checkpoints else None


def _agree_on(value: str) -> str:
    """Make every DDP rank use rank 0's value (run names carry a timestamp)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return str(holder[0])


@dataclass
class Prepared:
    """Data, base model and tokenised splits ready for the Trainer."""

    labels: list[str]
    validation: Any  # the raw validation split, in the (length-sorted) order of tokenized["validation"]
    ref: BaseModelRef
    model: Any
    tokenizer: Any
    tokenized: dict[str, Any]
    frozen_layers: int
    learning_rate: float


def _categories(split: Any) -> list[Any] | None:
    return list(split["category"]) if "category" in split.column_names else None


def prepare(cfg: TrainSettings, dataset: Any, *, hub_timeout_s: float) -> Prepared:
    """Load the base model, tokenise train and validation, attach the training row weights."""
    import numpy as np
    import transformers

    from hsctl.core.shift import balanced_weights
    from hsctl.train.base import freeze_bottom, load_base_model, resolve_base_model

    labels: list[str] = list(dataset["train"].features["label"].names)
    ref = resolve_base_model(cfg.model, hub_timeout_s=hub_timeout_s)
    transformers.set_seed(cfg.seed)
    model, tokenizer = load_base_model(
        ref,
        labels,
        train_texts=dataset["train"]["text"],
        max_length=cfg.max_length,
        scratch_vocab_size=cfg.scratch_vocab_size,
    )
    scratch = ref.kind == "scratch"
    frozen = freeze_bottom(model, 0 if scratch and cfg.freeze_layers is None else cfg.freeze_layers)

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(batch["text"], truncation=True, max_length=cfg.max_length)

    tokenized = {
        split: dataset[split].map(
            tokenize,
            batched=True,
            keep_in_memory=True,  # never write cache files into the preprocessed folder
            remove_columns=[c for c in dataset[split].column_names if c != "label"],
        )
        for split in ("train", "validation")
    }
    # Sorted by length once (cheap padding) and evaluated in that order: categories and texts stay aligned.
    order = np.argsort([len(ids) for ids in tokenized["validation"]["input_ids"]], kind="stable")
    tokenized["validation"] = tokenized["validation"].select(order)
    validation = dataset["validation"].select(order)
    y = np.asarray(dataset["train"]["label"])
    power = {"balanced": 0.0, "sqrt": 0.5, "none": 1.0}[cfg.category_weighting]
    prior = 0.5 if cfg.class_weights else float(y.mean())
    if cfg.class_weights or power < 1.0:
        weights = balanced_weights(y, _categories(dataset["train"]), prior, power=power)
        tokenized["train"] = tokenized["train"].add_column("weight", weights.astype(np.float32).tolist())
    learning_rate = cfg.learning_rate or (SCRATCH_LR if scratch else PRETRAINED_LR)
    return Prepared(labels, validation, ref, model, tokenizer, tokenized, frozen, learning_rate)


def training_arguments(
    cfg: TrainSettings, output_dir: Path, learning_rate: float, *, report_to: list[str], checkpoints: bool = True
) -> Any:
    """The Trainer's arguments: one place for the recipe's optimisation settings.

    ``checkpoints=False`` (leave-one-category-out runs) skips per-epoch evaluation and saving.
    """
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    best = "shift_score" if cfg.selection_metric == "shift" else "macro_f1"
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_ratio=cfg.warmup_ratio,
        lr_scheduler_type="linear",
        max_grad_norm=cfg.max_grad_norm,
        group_by_length=True,
        eval_strategy="epoch" if checkpoints else "no",
        save_strategy="epoch" if checkpoints else "no",
        save_total_limit=2,
        load_best_model_at_end=checkpoints,
        metric_for_best_model=best,
        greater_is_better=True,
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        full_determinism=cfg.full_determinism,
        report_to=report_to,  # explicit: the default would try wandb
        disable_tqdm=True,
        log_level="passive",  # keep the caller's transformers verbosity (the CLI quiets it)
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        remove_unused_columns=False,  # keeps the row weights; the splits hold only model inputs
        # gloo is the CPU backend; only set under torchrun, accelerate treats it as "distributed".
        ddp_backend="gloo" if not cuda and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        save_safetensors=True,
    )


def build_trainer(
    cfg: TrainSettings,
    prepared: Prepared,
    args: Any,
    validation_categories: list[Any] | None,
    *,
    progress: TrainProgress | None = None,
    early_stopping: bool = True,
) -> tuple[Any, Any]:
    """The weighted Trainer with progress, Ctrl-C and early-stopping callbacks; returns it and the Ctrl-C hook."""
    import numpy as np
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback
    from transformers.trainer_callback import PrinterCallback

    from hsctl.train.callbacks import InterruptCallback, ProgressCallback, WeightedTrainer
    from hsctl.train.decide import epoch_scores

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        return epoch_scores(cfg, eval_pred.predictions, np.asarray(eval_pred.label_ids), validation_categories)

    interrupt = InterruptCallback()
    callbacks: list[Any] = [interrupt]
    if early_stopping and cfg.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    if progress is not None:
        callbacks.append(ProgressCallback(progress))
    trainer = WeightedTrainer(
        model=prepared.model,
        args=args,
        train_dataset=prepared.tokenized["train"],
        eval_dataset=prepared.tokenized["validation"],
        data_collator=DataCollatorWithPadding(prepared.tokenizer),
        processing_class=prepared.tokenizer,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # it prints raw log dicts on stdout, which would break --json
    return trainer, interrupt


def train(
    settings: Settings, *, resume: bool = False, progress: TrainProgress | None = None, overwrite: bool = False
) -> TrainResult:
    """Fine-tune ``settings.train.model`` on the preprocessed data and write the model folder.

    Ctrl-C at any point (training, final validation, calibration, packaging) raises
    :class:`TrainingInterrupted` with the resume command, and leaves ``run.json`` at ``interrupted``.
    The run folder is locked while the run writes it (:mod:`hsctl.train.runs`); an existing
    model of a named run is replaced only with ``overwrite``.
    """
    run: dict[str, Any] = {"overwrite": overwrite}  # run_dir and run_name, once run.json exists; the lock
    try:
        return _train(settings, resume, progress, run)
    except KeyboardInterrupt:
        raise _interrupted(settings, run) from None
    finally:
        if run.get("lock") is not None:
            run["lock"].release()


def resume_command(settings: Settings, run_name: str) -> str:
    """The command that continues an interrupted run."""
    command = f"hsctl train --resume --run-name {run_name}"
    if settings.paths.artifacts != Path("artifacts"):
        artifacts = str(settings.paths.artifacts)
        command += f' --artifacts "{artifacts}"' if " " in artifacts else f" --artifacts {artifacts}"
    return command


def _interrupted(settings: Settings, run: dict[str, Any]) -> TrainingInterrupted:
    """Mark the run interrupted (unless its model was already written) and say how to go on."""
    run_dir: Path | None = run.get("run_dir")
    if run_dir is None:
        return TrainingInterrupted("training interrupted before the run started: nothing was saved")
    run_name = str(run["run_name"])
    meta = read_json(run_dir / RUN_FILE) if (run_dir / RUN_FILE).is_file() else {}
    if meta.get("status") == "completed":
        return TrainingInterrupted(
            f"interrupted after run {run_name} was complete: the model folder {meta.get('model_dir')} is written; "
            "only the experiment-tracking upload was cut short"
        )
    checkpoint = _last_checkpoint(run_dir)
    step = int(checkpoint.name.rsplit("-", 1)[-1]) if checkpoint else 0
    _update_run(run_dir, status="interrupted", step=step)
    if checkpoint is None:
        return TrainingInterrupted(
            f"training run {run_name} interrupted before its first checkpoint: nothing to resume",
            hint="start it again with 'hsctl train'",
        )
    return TrainingInterrupted(
        f"training run {run_name} interrupted; its last checkpoint is {checkpoint}",
        hint=f"continue with: {resume_command(settings, run_name)}",
    )


def _train(settings: Settings, resume: bool, progress: TrainProgress | None, run: dict[str, Any]) -> TrainResult:
    """The body of :func:`train`; ``run`` receives the run folder once ``run.json`` is written."""
    import numpy as np
    import torch

    from hsctl.train.decide import decide, fold_calibration
    from hsctl.train.tracking import configure_wandb_env, log_final, plan_tracking, start_run, tracking_notes

    paths = settings.paths
    runs_dir = paths.layout.runs_dir
    cfg, run_name, resume_from = _plan_run(settings.train, runs_dir, resume, paths.models_dir, run)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    dataset = load_processed(paths.processed_dir, ("train", "validation"))
    refuse_suite_leak(list(dataset["train"]["text"]) + list(dataset["validation"]["text"]))
    holdout = None
    if cfg.contrast:
        dataset, holdout = add_contrast(dataset, processed_normalization(paths.processed_dir), seed=cfg.seed)
    if cfg.feedback:  # reviewed traffic: training (repeated) and a stable share of validation
        from hsctl.train.feedback import add_feedback

        dataset, _ = add_feedback(dataset, paths.layout, processed_normalization(paths.processed_dir))
    prepared = prepare(cfg, dataset, hub_timeout_s=settings.data.hub_timeout_s)
    plan = plan_tracking(settings.tracking)
    args = training_arguments(cfg, runs_dir / run_name / "checkpoints", prepared.learning_rate,
                              report_to=["wandb"] if plan.enabled else [])  # fmt: skip
    args.run_name = run_name
    run_name = _agree_on(run_name)  # TrainingArguments set up DDP; rank 0's name wins
    run_dir = runs_dir / run_name
    args.output_dir = str(run_dir / "checkpoints")
    main_process = args.process_index == 0
    if plan.enabled and main_process:
        plan = start_run(plan, settings.tracking, paths.layout.tracking_dir, run_name, cfg.model_dump(mode="json"))
    elif plan.enabled:
        configure_wandb_env(plan, settings.tracking, paths.layout.tracking_dir, run_name)
    if main_process:
        _start_run_file(run_dir, run_name, cfg, resume_from)
        run.update(run_dir=run_dir, run_name=run_name)
    trainer, interrupt = build_trainer(cfg, prepared, args, _categories(prepared.validation), progress=progress)
    started = time.perf_counter()
    with interrupt.installed():
        output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    train_time = time.perf_counter() - started
    if interrupt.interrupted_at is not None:
        if main_process:
            _update_run(run_dir, status="interrupted", step=interrupt.interrupted_at)
        raise TrainingInterrupted(
            f"training interrupted at step {interrupt.interrupted_at} of {trainer.state.max_steps}; "
            f"checkpoint saved in {run_dir / 'checkpoints'}",
            hint=f"continue with: {resume_command(settings, run_name)}",
        )

    validation = trainer.predict(prepared.tokenized["validation"])
    y_val = np.asarray(validation.label_ids)
    decision = decide(
        cfg, validation.predictions, y_val, _categories(prepared.validation), prepared.validation["text"],
        prepared.labels, holdout=_score_holdout(trainer, prepared, cfg, holdout),
    )  # fmt: skip
    fold_calibration(trainer.model, decision.calibration)
    result = TrainResult(
        run_name=run_name,
        model_dir=paths.models_dir / run_name,
        base_model=prepared.ref.name,
        threshold=decision.threshold,
        validation_metrics=decision.validation_metrics,
        shift_estimates=decision.shift,
        train_time_s=round(train_time, 2),
        samples_per_s=round(float(output.metrics.get("train_samples_per_second", 0.0)), 2),
        global_step=int(trainer.state.global_step),
        epochs_completed=round(float(trainer.state.epoch or 0.0), 3),
        resumed_from=str(resume_from) if resume_from else None,
        tracking=plan.backend,
        target_prior=cfg.target_prior,
        frozen_layers=prepared.frozen_layers,
        warnings=[plan.reason] if plan.fell_back else [],
        tracking_run_dir=str(plan.run_dir) if plan.run_dir else None,
        notes=tracking_notes(plan),
    )
    if not main_process:
        return result
    card = _card(settings, cfg, prepared, decision, result, trainer, args, dataset)
    _package(settings, cfg, trainer, prepared, card, result)
    set_latest(paths.models_dir, run_name)
    _update_run(run_dir, status="completed", model_dir=str(result.model_dir))
    if not cfg.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    log_final(
        plan,
        prepared.labels,
        y_val.tolist(),
        (decision.probabilities(validation.predictions) >= decision.threshold).astype(int).tolist(),
        _flat(decision.validation_metrics | {f"shift_{k}": v for k, v in decision.shift.items()}),
        result.model_dir,
    )
    return result


def _plan_run(
    cfg: TrainSettings, runs_dir: Path, resume: bool, models_dir: Path, run: dict[str, Any]
) -> tuple[TrainSettings, str, Path | None]:
    """The run's settings, name and checkpoint to resume from (a resumed run keeps its own settings).

    The run folder is claimed here (created atomically, locked: ``run["lock"]``).
    """
    from hsctl.settings import TrainSettings
    from hsctl.train.runs import claim_run

    if not resume:
        name, run["lock"] = claim_run(
            runs_dir, models_dir, cfg.run_name, cfg.model, resume=False, overwrite=bool(run.get("overwrite"))
        )
        return cfg, name, None
    run_dir = find_resumable(runs_dir, cfg.run_name)
    _, run["lock"] = claim_run(runs_dir, models_dir, run_dir.name, cfg.model, resume=True, overwrite=True)
    meta = read_json(run_dir / RUN_FILE)
    return TrainSettings(**meta["train"]), run_dir.name, _last_checkpoint(run_dir)


def _start_run_file(run_dir: Path, run_name: str, cfg: TrainSettings, resume_from: Path | None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume_from is not None:
        _update_run(run_dir, status="running", resumed_from=str(resume_from))
        return
    write_json(
        run_dir / RUN_FILE,
        {"status": "running", "run_name": run_name, "started_at": utc_now(), "train": cfg.model_dump(mode="json")},
    )


def _contrast_count(cfg: TrainSettings) -> dict[str, int]:
    """How many contrast rows joined training and how many chose the threshold (0 when off)."""
    if not cfg.contrast:
        return {"fit": 0, "holdout": 0}
    from hsctl.train.contrast import contrast_rows

    return {part: len(contrast_rows(part, seed=cfg.seed)) for part in ("fit", "holdout")}


def _score_holdout(trainer: Any, prepared: Prepared, cfg: TrainSettings, holdout: Holdout | None) -> Any:
    """Raw logits and labels of the held-out contrast rows (None without contrast data).

    Scored by the model directly, on every rank alike: the Trainer's distributed
    predict pads and gathers, which does not keep a small set's length under DDP.
    """
    if holdout is None or not holdout.texts:
        return None
    import numpy as np
    import torch

    model = trainer.model
    device = next(model.parameters()).device
    model.eval()
    out: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(holdout.texts), 64):
            batch = prepared.tokenizer(
                holdout.texts[start : start + 64],
                truncation=True,
                max_length=cfg.max_length,
                padding=True,
                return_tensors="pt",
            ).to(device)
            accepted = {k: v for k, v in batch.items() if k in model.forward.__code__.co_varnames}
            out.append(model(**accepted).logits.float().cpu().numpy())
    return np.concatenate(out), holdout.labels


def _card(
    settings: Settings,
    cfg: TrainSettings,
    prepared: Prepared,
    decision: Any,
    result: TrainResult,
    trainer: Any,
    args: Any,
    dataset: Any,
) -> dict[str, Any]:
    """The content of ``hsctl.json``: the decision rule, scores and provenance."""
    import numpy as np

    from hsctl.core.provenance import git_commit, library_versions

    return {
        "hsctl_card_version": 2,
        "run_name": result.run_name,
        "created_at": utc_now(),
        "base_model": asdict(prepared.ref),
        "labels": prepared.labels,
        "threshold": decision.threshold,
        "threshold_mode": cfg.threshold_mode,
        "threshold_bounds": list(cfg.threshold_bounds),
        "target_recall": cfg.target_recall,
        "validation_prior": decision.validation_prior,
        "train_prior": float(np.asarray(dataset["train"]["label"]).mean()),
        "target_prior": cfg.target_prior,
        "calibration": {"scale": decision.calibration.scale, "bias": decision.calibration.bias},
        "max_length": cfg.max_length,
        # What inference must apply to raw text: the normalisation the training data was built with.
        "normalize": processed_normalization(settings.paths.processed_dir) or settings.data.normalize.model_dump(),
        "validation_metrics": decision.validation_metrics,
        "shift_estimates": decision.shift,
        "training": {
            "train_time_s": result.train_time_s,
            "samples_per_s": result.samples_per_s,
            "global_step": result.global_step,
            "epochs_completed": result.epochs_completed,
            "best_epoch": _best_epoch(trainer.state, args.metric_for_best_model),
            "selection_metric": cfg.selection_metric,
            "category_weighting": cfg.category_weighting,
            "class_weights": cfg.class_weights,
            "contrast_rows": _contrast_count(cfg),
            "frozen_layers": prepared.frozen_layers,
            "learning_rate": prepared.learning_rate,
            "world_size": args.world_size,
            "device": str(args.device),
            "resumed_from": result.resumed_from,
            "log_history": trainer.state.log_history,
        },
        "data": _data_fingerprint(settings.paths.processed_dir, settings.paths.raw_dir, dataset),
        "settings": settings.model_dump(mode="json") | {"train": cfg.model_dump(mode="json")},
        "git_commit": git_commit(),
        "libraries": library_versions(),
    }


def _package(
    settings: Settings, cfg: TrainSettings, trainer: Any, prepared: Prepared, card: dict[str, Any], result: TrainResult
) -> None:
    """Write the model folder atomically: weights, tokenizer, ``hsctl.json``, suite scores and the card."""
    from hsctl.models.card import write_model_card

    model_dir = result.model_dir
    with atomic_dir(model_dir) as tmp:
        trainer.save_model(str(tmp))  # best checkpoint (load_best_model_at_end), calibrated, safetensors
        prepared.tokenizer.save_pretrained(str(tmp))
        (tmp / "training_args.bin").unlink(missing_ok=True)  # a pickle: never ship it
        weights = tmp / "model.safetensors"
        card["weights_sha256"] = sha256_file(weights) if weights.is_file() else None
        card["model_version"] = model_version(model_dir, card)
        write_json(tmp / MODEL_CARD, card)
        if cfg.functional_suite:
            card["functional_suite"] = _suite_summary(settings, tmp)
            result.functional_suite = card["functional_suite"]
            write_json(tmp / MODEL_CARD, card)
        write_model_card(tmp, card)


def _suite_summary(settings: Settings, model_dir: Path) -> dict[str, Any]:
    """Pass rates of the behavioural suite for the card (never used to fit or select anything)."""
    from functools import partial

    from hsctl.core.text import normalize_text
    from hsctl.evaluate.suite import run_suite
    from hsctl.inference import load_predictor

    predictor = load_predictor(model_dir, "torch", batch_size=settings.inference.batch_size)
    outcome = run_suite(predictor, normalize=partial(normalize_text, cfg=settings.data.normalize), worst=10)
    data = outcome.to_dict()
    keep = ("suite", "n", "pass_rate", "hate_pass_rate", "non_hate_pass_rate", "per_functionality", "per_category")
    return {k: data[k] for k in keep if k in data} | {"worst": data.get("worst", [])[:10]}


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def _best_epoch(state: Any, metric: str) -> float | None:
    best = state.best_metric
    for entry in state.log_history:
        if f"eval_{metric}" in entry and entry[f"eval_{metric}"] == best:
            return float(entry.get("epoch", 0.0))
    return None


def _update_run(run_dir: Path, **changes: Any) -> None:
    meta_path = run_dir / RUN_FILE
    meta = read_json(meta_path) if meta_path.is_file() else {}
    meta.update(changes, updated_at=utc_now())
    write_json(meta_path, meta)


def _data_fingerprint(processed: Path, raw_dir: Path, dataset: Any) -> dict[str, Any]:
    stats = processed / "stats.json"
    fetch_manifest = raw_dir / FETCH_MANIFEST
    return {
        "processed_dir": str(processed),
        "stats_sha256": sha256_file(stats) if stats.is_file() else None,
        "fetch_manifest_sha256": sha256_file(fetch_manifest) if fetch_manifest.is_file() else None,
        "source": json.loads(fetch_manifest.read_text()).get("source") if fetch_manifest.is_file() else None,
        "rows": {split: len(dataset[split]) for split in dataset},
        "env_world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
