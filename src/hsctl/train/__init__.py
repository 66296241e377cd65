"""``train``: fine-tune a sequence classifier with the transformers Trainer.

Dynamic padding, length-grouped batches, class weights, warmup and decay,
gradient clipping, early stopping on validation macro-F1, a checkpoint per epoch
(``--resume`` continues), a decision threshold chosen on the validation split,
and an atomically written model folder with ``hsctl.json``. Runs unchanged
under ``torchrun`` (DDP, gloo on CPU); only rank 0 writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hsctl.core.io import atomic_dir, read_json, sha256_file, utc_now, write_json
from hsctl.errors import DataError, ExitCode, HsctlError
from hsctl.models import MODEL_CARD, model_version, set_latest

if TYPE_CHECKING:
    from hsctl.settings import Settings
    from hsctl.train.callbacks import TrainProgress

RUN_FILE = "run.json"
PRETRAINED_LR = 5e-5
SCRATCH_LR = 1e-3


class TrainingInterrupted(HsctlError):
    """Ctrl-C during training: a checkpoint was saved and ``--resume`` continues."""

    exit_code = ExitCode.INTERRUPTED


@dataclass
class TrainResult:
    """Summary of a finished run (also in ``hsctl.json``)."""

    run_name: str
    model_dir: Path
    base_model: str
    threshold: float
    validation_metrics: dict[str, Any]
    train_time_s: float
    samples_per_s: float
    global_step: int
    epochs_completed: float
    resumed_from: str | None = None
    tracking: str = "none"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        data = asdict(self)
        data["model_dir"] = str(self.model_dir)
        return data


def default_run_name(model: str) -> str:
    """``<model basename>-<UTC timestamp>``, safe as a folder name."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model.rstrip("/")).name or "model")
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"


def load_processed(processed_dir: Path) -> Any:
    """The ``DatasetDict`` written by ``preprocess``, with train and validation splits."""
    import datasets

    if not (Path(processed_dir) / "dataset_dict.json").is_file():
        raise DataError(f"no preprocessed data at {processed_dir}: run 'hsctl preprocess' first")
    dataset = datasets.load_from_disk(str(processed_dir))
    missing = [s for s in ("train", "validation") if s not in dataset]
    if missing:
        raise DataError(f"preprocessed data at {processed_dir} lacks split(s): {', '.join(missing)}")
    return dataset


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


def train(settings: Settings, *, resume: bool = False, progress: TrainProgress | None = None) -> TrainResult:
    """Fine-tune ``settings.train.model`` on the preprocessed data and write the model folder."""
    import numpy as np
    import torch
    import transformers
    from transformers import DataCollatorWithPadding, EarlyStoppingCallback, TrainingArguments

    from hsctl.core.decision import best_threshold
    from hsctl.evaluate.metrics import binary_metrics, softmax_positive
    from hsctl.settings import TrainSettings
    from hsctl.train.base import load_base_model, resolve_base_model
    from hsctl.train.callbacks import InterruptCallback, ProgressCallback, WeightedTrainer
    from hsctl.train.tracking import configure_wandb_env, log_final, plan_tracking, start_run

    paths = settings.paths
    runs_dir = paths.artifacts / "runs"
    resume_from: Path | None = None
    cfg = settings.train
    if resume:
        run_dir = find_resumable(runs_dir, cfg.run_name)
        meta = read_json(run_dir / RUN_FILE)
        cfg = TrainSettings(**meta["train"])  # the interrupted run's own settings
        run_name = run_dir.name
        resume_from = _last_checkpoint(run_dir)
    else:
        run_name = cfg.run_name or default_run_name(cfg.model)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    dataset = load_processed(paths.processed_dir)
    labels: list[str] = list(dataset["train"].features["label"].names)
    ref = resolve_base_model(cfg.model, hub_timeout_s=settings.data.hub_timeout_s)
    transformers.set_seed(cfg.seed)
    model, tokenizer = load_base_model(
        ref,
        labels,
        train_texts=dataset["train"]["text"],
        max_length=cfg.max_length,
        scratch_vocab_size=cfg.scratch_vocab_size,
    )

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        return tokenizer(batch["text"], truncation=True, max_length=cfg.max_length)

    keep = {"label"}
    tokenized = {
        split: dataset[split].map(
            tokenize,
            batched=True,
            keep_in_memory=True,  # never write cache files into the preprocessed folder
            remove_columns=[c for c in dataset[split].column_names if c not in keep],
        )
        for split in ("train", "validation")
    }
    train_labels = np.asarray(dataset["train"]["label"])
    counts = np.bincount(train_labels, minlength=len(labels))
    class_weights = (len(train_labels) / (len(labels) * np.maximum(counts, 1))).tolist() if cfg.class_weights else None

    learning_rate = cfg.learning_rate or (SCRATCH_LR if ref.kind == "scratch" else PRETRAINED_LR)
    plan = plan_tracking(settings.tracking)
    cuda = torch.cuda.is_available()
    args = TrainingArguments(
        output_dir=str(runs_dir / run_name / "checkpoints"),
        num_train_epochs=cfg.epochs,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.eval_batch_size,
        learning_rate=learning_rate,
        weight_decay=cfg.weight_decay,
        warmup_ratio=cfg.warmup_ratio,
        lr_scheduler_type="linear",
        max_grad_norm=cfg.max_grad_norm,
        group_by_length=True,
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model="macro_f1",
        greater_is_better=True,
        logging_steps=cfg.logging_steps,
        seed=cfg.seed,
        data_seed=cfg.seed,
        full_determinism=cfg.full_determinism,
        report_to=["wandb"] if plan.enabled else [],  # explicit: the default would try wandb
        run_name=run_name,
        disable_tqdm=True,
        log_level="passive",  # keep the caller's transformers verbosity (the CLI quiets it)
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        # gloo is the CPU backend; only set under torchrun, accelerate treats it as "distributed".
        ddp_backend="gloo" if not cuda and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
        save_safetensors=True,
    )
    run_name = _agree_on(run_name)  # TrainingArguments set up DDP; rank 0's name wins
    run_dir = runs_dir / run_name
    args.output_dir = str(run_dir / "checkpoints")
    main_process = args.process_index == 0
    if plan.enabled and main_process:
        plan = start_run(plan, settings.tracking, paths.artifacts / "wandb", run_name, cfg.model_dump(mode="json"))
    elif plan.enabled:
        configure_wandb_env(plan, settings.tracking, paths.artifacts / "wandb", run_name)
    if main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        if resume_from is not None:
            _update_run(run_dir, status="running", resumed_from=str(resume_from))
        else:
            write_json(
                run_dir / RUN_FILE,
                {
                    "status": "running",
                    "run_name": run_name,
                    "started_at": utc_now(),
                    "train": cfg.model_dump(mode="json"),
                },
            )

    def compute_metrics(eval_pred: Any) -> dict[str, float]:
        probs = softmax_positive(eval_pred.predictions)
        y = np.asarray(eval_pred.label_ids)
        threshold, _ = best_threshold(probs, y, cfg.threshold_mode, cfg.target_recall)
        tuned = binary_metrics(y, probs, threshold, labels)
        return {
            "macro_f1": tuned["macro_f1"],
            "macro_f1_at_0.5": binary_metrics(y, probs, 0.5, labels)["macro_f1"],
            "accuracy": tuned["accuracy"],
            "roc_auc": tuned["roc_auc"],
            "threshold": threshold,
        }

    interrupt = InterruptCallback()
    callbacks: list[Any] = [interrupt]
    if cfg.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    if progress is not None:
        callbacks.append(ProgressCallback(progress))
    trainer = WeightedTrainer(
        model=model,
        args=args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"],
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
        callbacks=callbacks,
        class_weights=class_weights,
    )
    # disable_tqdm makes the Trainer print raw log dicts on stdout, which would break --json.
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
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
            hint="continue with 'hsctl train --resume'",
        )

    validation = trainer.predict(tokenized["validation"])
    probs = softmax_positive(validation.predictions)
    y_val = np.asarray(validation.label_ids)
    threshold, _ = best_threshold(probs, y_val, cfg.threshold_mode, cfg.target_recall)
    val_metrics = binary_metrics(y_val, probs, threshold, labels)
    val_metrics["macro_f1_at_0.5"] = binary_metrics(y_val, probs, 0.5, labels)["macro_f1"]
    samples_per_s = float(output.metrics.get("train_samples_per_second", 0.0))
    best_epoch = _best_epoch(trainer.state)

    model_dir = paths.models_dir / run_name
    result = TrainResult(
        run_name=run_name,
        model_dir=model_dir,
        base_model=ref.name,
        threshold=threshold,
        validation_metrics=val_metrics,
        train_time_s=round(train_time, 2),
        samples_per_s=round(samples_per_s, 2),
        global_step=int(trainer.state.global_step),
        epochs_completed=round(float(trainer.state.epoch or 0.0), 3),
        resumed_from=str(resume_from) if resume_from else None,
        tracking=plan.backend,
        warnings=[plan.reason] if plan.fell_back else [],
    )
    if not main_process:
        return result
    from hsctl.core.provenance import git_commit, library_versions

    processed = paths.processed_dir
    card = {
        "hsctl_card_version": 1,
        "run_name": run_name,
        "created_at": utc_now(),
        "base_model": asdict(ref),
        "labels": labels,
        "threshold": threshold,
        "threshold_mode": cfg.threshold_mode,
        "target_recall": cfg.target_recall,
        "validation_prior": float(y_val.mean()),
        "train_prior": float(train_labels.mean()),
        "target_prior": cfg.target_prior,
        "max_length": cfg.max_length,
        "validation_metrics": val_metrics,
        "training": {
            "train_time_s": result.train_time_s,
            "samples_per_s": result.samples_per_s,
            "global_step": result.global_step,
            "epochs_completed": result.epochs_completed,
            "best_epoch": best_epoch,
            "class_weights": class_weights,
            "learning_rate": learning_rate,
            "world_size": args.world_size,
            "device": str(args.device),
            "resumed_from": result.resumed_from,
            "log_history": trainer.state.log_history,
        },
        "data": _data_fingerprint(processed, paths.raw_dir, dataset),
        "settings": settings.model_dump(mode="json") | {"train": cfg.model_dump(mode="json")},
        "git_commit": git_commit(),
        "libraries": library_versions(),
    }
    with atomic_dir(model_dir) as tmp:
        trainer.save_model(str(tmp))  # best checkpoint (load_best_model_at_end), safetensors
        tokenizer.save_pretrained(str(tmp))
        for leftover in ("training_args.bin",):  # a pickle: never ship it
            (tmp / leftover).unlink(missing_ok=True)
        weights = tmp / "model.safetensors"
        card["weights_sha256"] = sha256_file(weights) if weights.is_file() else None
        card["model_version"] = model_version(model_dir, card)
        write_json(tmp / MODEL_CARD, card)
    set_latest(paths.models_dir, run_name)
    _update_run(run_dir, status="completed", model_dir=str(model_dir))
    if not cfg.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    log_final(plan, labels, y_val.tolist(), (probs >= threshold).astype(int).tolist(), _flat(val_metrics), model_dir)
    return result


def _flat(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if isinstance(v, int | float)}


def _best_epoch(state: Any) -> float | None:
    best = state.best_metric
    for entry in state.log_history:
        if "eval_macro_f1" in entry and entry["eval_macro_f1"] == best:
            return float(entry.get("epoch", 0.0))
    return None


def _update_run(run_dir: Path, **changes: Any) -> None:
    meta_path = run_dir / RUN_FILE
    meta = read_json(meta_path) if meta_path.is_file() else {}
    meta.update(changes, updated_at=utc_now())
    write_json(meta_path, meta)


def _data_fingerprint(processed: Path, raw_dir: Path, dataset: Any) -> dict[str, Any]:
    stats = processed / "stats.json"
    fetch_manifest = raw_dir / "fetch.json"
    return {
        "processed_dir": str(processed),
        "stats_sha256": sha256_file(stats) if stats.is_file() else None,
        "fetch_manifest_sha256": sha256_file(fetch_manifest) if fetch_manifest.is_file() else None,
        "source": json.loads(fetch_manifest.read_text()).get("source") if fetch_manifest.is_file() else None,
        "rows": {split: len(dataset[split]) for split in dataset},
        "env_world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }
