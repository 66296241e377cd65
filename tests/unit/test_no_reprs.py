"""No Python reprs (``{'``, ``['``, ``True``/``False``) in what people read: tables, Markdown, HTML."""

from __future__ import annotations

import re
from pathlib import Path

from hsctl.cli.pipeline import _summary_text
from hsctl.drift import HTML, drift
from tests.unit.test_drift import artifacts_with_data, settings_for, unshifted_texts, write_serve_log

REPR = re.compile(r"\{'|\['|\bTrue\b|\bFalse\b|\bNone\b")


def test_pipeline_summary_reads_as_text():
    text = _summary_text({"splits": {"train": 315, "validation": 45}, "int8_kept": True, "macro_f1": 0.91234})
    assert not REPR.search(text), text
    assert "splits: train 315, validation 45" in text and "int8 kept: yes" in text


def test_drift_report_has_no_reprs(trained_model: Path, tmp_path: Path):
    artifacts = artifacts_with_data(trained_model, tmp_path)
    write_serve_log(artifacts / "predictions", trained_model, unshifted_texts(120))
    result = drift(settings_for(artifacts), model=trained_model)
    html = (result.output_dir / HTML).read_text(encoding="utf-8")
    visible = re.sub(r"<[^>]+>|data:image/png;base64,[A-Za-z0-9+/=]+", " ", html.split("</style>", 1)[1])
    assert not REPR.search(visible), REPR.search(visible)
