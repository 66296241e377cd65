"""Trainer callbacks: progress forwarding, clean Ctrl-C, and the row-weighted Trainer."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class TrainProgress(Protocol):
    """What the CLI (or any caller) is told while training runs; the library never prints."""

    def on_start(self, total_steps: int, start_step: int, samples_per_step: int) -> None:
        """Training starts (``start_step`` > 0 when resuming)."""

    def on_step(self, step: int, epoch: float) -> None:
        """An optimisation step finished."""

    def on_log(self, logs: dict[str, float]) -> None:
        """Loss, learning rate or throughput were logged."""

    def on_evaluate(self, metrics: dict[str, float]) -> None:
        """Validation metrics of an epoch."""

    def on_end(self) -> None:
        """Training stopped."""


class ProgressCallback(TrainerCallback):
    """Forward Trainer events to a :class:`TrainProgress` on the main process."""

    def __init__(self, progress: TrainProgress) -> None:
        self.progress = progress

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            per_step = args.per_device_train_batch_size * args.gradient_accumulation_steps * args.world_size
            self.progress.on_start(state.max_steps, state.global_step, per_step)

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.progress.on_step(state.global_step, float(state.epoch or 0.0))

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if state.is_world_process_zero and logs:
            self.progress.on_log(logs)

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if state.is_world_process_zero and metrics:
            self.progress.on_evaluate(metrics)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            self.progress.on_end()


class InterruptCallback(TrainerCallback):
    """On the first Ctrl-C, save a checkpoint at the end of the current step and stop.

    Under DDP every rank must stop at the same step, so the flag is all-reduced.
    """

    def __init__(self) -> None:
        self.requested = threading.Event()
        self.interrupted_at: int | None = None

    def on_step_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        stop = self.requested.is_set()
        if args.world_size > 1:
            import torch
            import torch.distributed as dist

            flag = torch.tensor([1 if stop else 0])
            dist.all_reduce(flag, op=dist.ReduceOp.MAX)
            stop = bool(flag.item())
        if stop and self.interrupted_at is None:
            self.interrupted_at = state.global_step
            control.should_save = True
            control.should_training_stop = True

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Catch SIGINT while training (main thread only); a second Ctrl-C aborts at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: FrameType | None) -> None:
            if self.requested.is_set():
                raise KeyboardInterrupt
            self.requested.set()

        previous = signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


class WeightedTrainer(Trainer):
    """A Trainer whose cross-entropy loss is the weighted mean over a ``weight`` column, when there is one.

    Row weights carry both the class balance and the category balance of hate rows
    (see :func:`hsctl.core.shift.balanced_weights`); rows without weights (validation)
    get the plain mean.
    """

    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        """Evaluate in dataset order (the Trainer would group by length): scores stay aligned with the rows.

        hsctl sorts the validation split by length itself, so padding stays small.
        """
        from torch.utils.data import SequentialSampler

        return SequentialSampler(eval_dataset) if eval_dataset is not None else None

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        import torch

        labels = inputs.pop("labels")
        row_weights = inputs.pop("weight", None)
        outputs = model(**inputs)
        logits = outputs.logits
        flat = logits.view(-1, logits.shape[-1])
        if row_weights is not None:
            w = row_weights.to(device=logits.device, dtype=logits.dtype).view(-1)
            per_row = torch.nn.functional.cross_entropy(flat, labels.view(-1), reduction="none")
            loss = (per_row * w).sum() / w.sum().clamp_min(1e-12)
        else:
            loss = torch.nn.functional.cross_entropy(flat, labels.view(-1))
        return (loss, outputs) if return_outputs else loss
