"""Training speed: ``hsctl train`` against a plain Trainer with default arguments, side by side.

Both train the same base model on the same preprocessed shared data for the
same number of epochs on this machine; prints samples/s of each and the ratio.

    python benchmarks/train_speed.py [--epochs 1] [--model sentence-transformers/all-MiniLM-L6-v2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import hsctl, require_shared


def plain_trainer(work: Path, model_dir: str, epochs: float) -> tuple[float, float]:
    """The usual tutorial recipe: Trainer with default TrainingArguments (reporting off)."""
    import datasets
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainingArguments

    data = datasets.load_from_disk(str(work / "artifacts" / "data" / "processed"))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    train = data["train"].map(lambda b: tokenizer(b["text"], truncation=True), batched=True, keep_in_memory=True)
    args = TrainingArguments(
        output_dir=str(work / "plain"), num_train_epochs=epochs, report_to=[], save_strategy="no", disable_tqdm=True
    )
    trainer = Trainer(model=model, args=args, train_dataset=train, processing_class=tokenizer)
    started = time.perf_counter()
    output = trainer.train()
    return float(output.metrics["train_samples_per_second"]), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=float, default=1.0)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hsctl-speed-"))
    hsctl("fetch", "--source", str(require_shared()), cwd=work)
    hsctl("preprocess", cwd=work)
    ours, wall = hsctl("train", "--model", args.model, "--epochs", str(args.epochs), "--patience", "0", cwd=work)
    from hsctl.train.base import packaged_model_dir

    model_dir = str(packaged_model_dir(args.model) or args.model)
    plain_sps, plain_wall = plain_trainer(work, model_dir, args.epochs)
    print(f"| trainer | samples/s | wall s ({args.epochs:g} epoch(s)) |")
    print("| --- | --- | --- |")
    print(f"| hsctl train | {ours['samples_per_s']:.1f} | {wall:.0f} |")
    print(f"| plain Trainer, default arguments | {plain_sps:.1f} | {plain_wall:.0f} |")
    print(f"ratio hsctl / plain: {ours['samples_per_s'] / plain_sps:.2f}x")


if __name__ == "__main__":
    main()
