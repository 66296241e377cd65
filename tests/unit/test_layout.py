"""The artifacts layout: folder names in one place, report history with a latest pointer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hsctl.core.layout import LATEST_FILE, Layout
from hsctl.settings import load_settings


def test_settings_paths_come_from_the_layout(tmp_path: Path):
    paths = load_settings({"paths.artifacts": str(tmp_path / "a")}).settings.paths
    layout = paths.layout
    assert paths.processed_dir == layout.processed_dir == tmp_path / "a" / "data" / "processed"
    assert paths.reports_dir == layout.reports_dir and layout.runs_dir == tmp_path / "a" / "runs"
    assert layout.drift_cache_dir == tmp_path / "a" / "cache" / "drift"
    assert Layout.onnx_dir(layout.model_dir("m")) == tmp_path / "a" / "models" / "m" / "onnx"


def test_each_report_gets_its_own_folder_and_latest_follows(tmp_path: Path):
    layout = Layout(tmp_path)
    assert layout.latest_report("eval") is None
    now = datetime(2026, 11, 30, 23, 15, tzinfo=UTC)
    first = layout.new_report_dir("eval", now)
    assert first == tmp_path / "reports" / "eval" / "20261130-231500"
    first.mkdir(parents=True)
    layout.point_latest("eval", first)
    second = layout.new_report_dir("eval", now)  # same second: a suffix, never an overwrite
    assert second.name == "20261130-231500-2"
    second.mkdir()
    layout.point_latest("eval", second)
    assert layout.latest_report("eval") == second
    assert (first.parent / LATEST_FILE).read_text().strip() == second.name
    link = first.parent / "latest"
    assert not link.exists() or link.resolve() == second.resolve()
    assert first.is_dir()  # history kept


def test_latest_works_from_the_text_file_alone(tmp_path: Path):
    layout = Layout(tmp_path)
    folder = layout.new_report_dir("drift")
    folder.mkdir(parents=True)
    layout.point_latest("drift", folder)
    (folder.parent / "latest").unlink(missing_ok=True)  # as on Windows without symlinks
    assert layout.latest_report("drift") == folder


def test_an_output_elsewhere_is_not_history(tmp_path: Path):
    layout = Layout(tmp_path / "artifacts")
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    layout.point_latest("loadtest", elsewhere)
    assert layout.latest_report("loadtest") is None
