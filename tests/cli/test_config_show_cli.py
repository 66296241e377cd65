"""`config show` prints values verbatim: markup-like text kept, long values folded, never cut with an ellipsis."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hsctl.cli.main import app

runner = CliRunner()
VALUE = "/very/long/path/[bold]not markup[/bold]/[red]x[/]/and/on/past/eighty/columns/for/sure/data-file.csv"


def value_cell(stdout: str, key: str) -> str:
    """The value column of ``key``'s row, continuation lines joined."""
    cells: list[str] = []
    for line in stdout.splitlines():
        parts = line.split("│")
        if len(parts) < 4:
            continue
        if parts[1].strip() == key:
            cells = [parts[2].strip()]
        elif cells and not parts[1].strip():
            cells.append(parts[2].strip())
        elif cells:
            break
    return "".join(cells)


@pytest.mark.parametrize("columns", ["80", "200"])
def test_values_are_shown_verbatim(isolated: Path, columns: str):
    Path("hsctl.toml").write_text(f'[data]\nsource = "{VALUE}"\n')
    result = runner.invoke(app, ["config", "show"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    assert value_cell(result.stdout, "data.source").replace(" ", "") == VALUE.replace(" ", "")
    assert VALUE in result.stdout or columns == "80"  # on one line when the width allows
