"""Run folders: a unique name per run, created atomically, locked while the run writes it.

Two ``hsctl train`` started in the same second used to get the same timestamped
name, and the later model silently replaced the earlier one. Names now end in a
random suffix and the folder is created with an exclusive ``mkdir`` (a clash
picks another name); a lock file (``flock``, released by the OS when the process
dies) marks a run whose folder is being written, so a second process cannot
train or resume into it. A named run whose model folder already exists is
refused unless the caller allows replacing it (``hsctl train --force``).
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path
from typing import IO

from hsctl.errors import ConfigError

LOCK_FILE = ".lock"
_ATTEMPTS = 20


def run_name_for(model: str) -> str:
    """``<model basename>-<UTC timestamp>-<6 random hex digits>``, safe as a folder name."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(model.rstrip("/")).name or "model")
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(3)}"


def main_rank() -> bool:
    """Whether this process is rank 0 (or not under torchrun): only rank 0 creates and locks the run folder."""
    return int(os.environ.get("RANK", "0") or 0) == 0


class RunLock:
    """An exclusive lock on a run folder, held while a process writes it (``<run>/.lock`` with its pid)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fh: IO[str] | None = None

    def acquire(self, name: str) -> None:
        """Take the lock or raise a ``ConfigError`` naming the process that holds it."""
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; the exclusive mkdir still keeps names unique
            self._fh = fh
            return
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ConfigError(
                f"run {name} is being written by another hsctl train ({holder}); "
                "wait for it or choose another --run-name"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        """Release the lock (idempotent). A run folder that holds nothing but the lock (a run stopped before
        it wrote anything) is removed first, while the lock is still held, so nothing is left behind."""
        if self._fh is None:
            return
        folder = self.path.parent
        try:
            if [p.name for p in folder.iterdir()] == [LOCK_FILE]:
                self.path.unlink()
                folder.rmdir()
        except OSError:  # someone else's file appeared meanwhile: keep the folder
            pass
        self._fh.close()  # closing the descriptor drops the flock
        self._fh = None


def claim_run(
    runs_dir: Path, models_dir: Path, name: str | None, model: str, *, resume: bool, overwrite: bool
) -> tuple[str, RunLock | None]:
    """The run's name and the lock on its folder (None on DDP ranks other than 0, which only follow rank 0).

    Without ``name`` a fresh unique folder is created with an exclusive ``mkdir``. A named
    new run whose model exists is refused unless ``overwrite``; a run folder locked by
    another process is refused always.
    """
    if not main_rank():
        return name or run_name_for(model), None
    runs_dir.mkdir(parents=True, exist_ok=True)
    if name is None:
        for _ in range(_ATTEMPTS):
            candidate = run_name_for(model)
            if (models_dir / candidate).exists():
                continue
            try:
                os.mkdir(runs_dir / candidate)
            except FileExistsError:
                continue
            lock = RunLock(runs_dir / candidate)
            lock.acquire(candidate)
            return candidate, lock
        raise ConfigError(f"could not create a unique run folder in {runs_dir}")  # pragma: no cover
    if not resume and not overwrite and (models_dir / name).exists():
        raise ConfigError(
            f"model {name} already exists in {models_dir}: pass --force to replace it, or choose another --run-name"
        )
    (runs_dir / name).mkdir(exist_ok=True)
    lock = RunLock(runs_dir / name)
    lock.acquire(name)
    return name, lock
