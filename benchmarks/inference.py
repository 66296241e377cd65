"""Inference speed: samples/s at batch 1 and 32 for torch, ONNX fp32 and ONNX int8, in one run.

All backends score the same real tweets (from the shared training file) through
hsctl's Predictor (length-sorted batches); a "plain" PyTorch row scores them in
input order with the transformers tokenizer, as an untuned pipeline does. Also
times ``hsctl predict --backend onnx-int8`` on 10,000 tweets.

    python benchmarks/inference.py --model artifacts/models/<run>   # a quantized model folder
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import require_shared


def tweets(n: int) -> list[str]:
    import pandas as pd

    from hsctl.core.text import normalize_text

    frame = pd.read_csv(require_shared(), keep_default_na=False)
    texts = [normalize_text(t) for t in frame["tweet"] if t.strip()]
    return (texts * (n // len(texts) + 1))[:n]


def rate(fn, texts: list[str], repeats: int = 3) -> float:
    fn(texts[: min(len(texts), 64)])  # warm-up
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn(texts)
        best = min(best, time.perf_counter() - started)
    return len(texts) / best


def plain_torch(model_dir: Path, batch: int):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir)).eval()

    def run(texts: list[str]) -> None:
        with torch.inference_mode():
            for i in range(0, len(texts), batch):
                enc = tokenizer(texts[i : i + batch], padding=True, truncation=True, max_length=64, return_tensors="pt")
                model(**enc)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a model folder that 'hsctl quantize' has processed")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--texts-b1", type=int, default=300)
    parser.add_argument("--texts-b32", type=int, default=2048)
    args = parser.parse_args()
    from hsctl.inference import load_predictor

    results: dict[str, dict[int, float]] = {}
    for batch, n in ((1, args.texts_b1), (32, args.texts_b32)):
        texts = tweets(n)
        results.setdefault("torch (plain, unsorted)", {})[batch] = rate(plain_torch(args.model, batch), texts)
        for backend in ("torch", "onnx", "onnx-int8"):
            predictor = load_predictor(args.model, backend, batch_size=batch, threads=args.threads)
            results.setdefault(backend, {})[batch] = rate(predictor.logits, texts)
    base_plain = results["torch (plain, unsorted)"]
    base = results["torch"]
    print(f"threads: {args.threads}; samples/s on real tweets")
    print("| backend | batch 1 | batch 32 | x plain torch (b1 / b32) | x hsctl torch (b1 / b32) |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in results.items():
        print(
            f"| {name} | {values[1]:.0f} | {values[32]:.0f} | {values[1] / base_plain[1]:.2f} / "
            f"{values[32] / base_plain[32]:.2f} | {values[1] / base[1]:.2f} / {values[32] / base[32]:.2f} |"
        )
    with tempfile.TemporaryDirectory() as tmp:
        import pandas as pd

        source = Path(tmp) / "tweets.csv"
        pd.DataFrame({"tweet": tweets(10_000)}).to_csv(source, index=False)
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "hsctl", "predict", str(source), "--model", str(args.model),
             "--backend", "onnx-int8", "-o", str(Path(tmp) / "scored.csv")],
            check=True, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        print(
            f"hsctl predict --backend onnx-int8 on 10,000 tweets: {time.perf_counter() - started:.1f} s (target 20 s)"
        )


if __name__ == "__main__":
    main()
