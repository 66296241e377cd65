"""Calibration, its folding into the output layer, and the stored decision (hsctl.train.decide)."""

from __future__ import annotations

import numpy as np
import pytest

from hsctl.settings import TrainSettings
from hsctl.train.decide import Calibration, apply_calibration, decide, fit_calibration, fold_calibration


def _logits(margin: np.ndarray) -> np.ndarray:
    return np.stack([np.zeros_like(margin), margin], axis=1)


def test_fit_calibration_recovers_scale_and_bias():
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 3, 20_000)
    true_scale, true_bias = 0.5, -0.7
    y = (rng.random(margin.size) < 1 / (1 + np.exp(-(true_scale * margin + true_bias)))).astype(int)
    cal = fit_calibration(_logits(margin), y)
    assert cal.scale == pytest.approx(true_scale, abs=0.05)
    assert cal.bias == pytest.approx(true_bias, abs=0.08)
    assert cal.temperature == pytest.approx(1 / cal.scale)
    assert fit_calibration(_logits(margin[:5]), np.ones(5)) == Calibration()  # one class: nothing to fit


def test_fold_calibration_matches_apply():
    torch = pytest.importorskip("torch")

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.config = type("C", (), {"num_labels": 2})()
            self.body = torch.nn.Linear(4, 3)
            self.out = torch.nn.Linear(3, 2)

        def forward(self, x):  # type: ignore[no-untyped-def]
            return self.out(torch.tanh(self.body(x)))

    model = Tiny()
    x = torch.randn(16, 4)
    before = model(x).detach().numpy()
    cal = Calibration(scale=0.4, bias=1.3)
    fold_calibration(model, cal)
    after = model(x).detach().numpy()
    expected = apply_calibration(before, cal)
    assert np.allclose(after[:, 1] - after[:, 0], expected[:, 1] - expected[:, 0], atol=1e-5)


def test_decide_uses_target_prior_bounds_and_reports_shift():
    rng = np.random.default_rng(1)
    n = 400
    y = (rng.random(n) < 0.27).astype(int)
    margin = np.where(y == 1, rng.normal(3, 1.5, n), rng.normal(-3, 1.5, n))
    cats = [("Race" if i % 3 else "Class") if label else None for i, label in enumerate(y)]
    texts = ["some text"] * n
    cfg = TrainSettings(target_prior=0.5, threshold_bounds=(0.3, 0.7))
    decision = decide(cfg, _logits(margin), y, cats, texts, ["non-hate", "hate"])
    assert 0.3 <= decision.threshold <= 0.7
    assert decision.validation_prior == pytest.approx(y.mean())
    assert decision.target_prior == 0.5
    assert set(decision.shift["per_category_recall"]) == {"Race", "Class"}
    assert decision.shift["prior"] == 0.5
    assert decision.validation_metrics["roc_auc"] > 0.95
    plain = decide(TrainSettings(target_prior=None, calibrate=False), _logits(margin), y, cats, texts,
                   ["non-hate", "hate"])  # fmt: skip
    assert plain.calibration == Calibration()
    assert plain.shift["prior"] == 0.5  # estimates stay at the deployment prior: recipes remain comparable
