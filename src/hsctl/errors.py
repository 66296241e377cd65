"""The error hierarchy shared by the library and the CLI.

Library code raises these and never exits; the CLI maps each class to one
red line on stderr and a documented exit code (see ``ExitCode``).
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README; scripts rely on them."""

    OK = 0
    FAILURE = 1
    USAGE = 2
    GATE_FAILED = 3
    DATA_INVALID = 4
    NETWORK = 5
    INTERRUPTED = 130


class HsctlError(Exception):
    """Base class: an expected failure with a message meant for the user."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(HsctlError):
    """Invalid settings, options or configuration files."""

    exit_code = ExitCode.USAGE


class DataError(HsctlError):
    """Input data that is missing, unreadable or fails validation."""

    exit_code = ExitCode.DATA_INVALID


class NetworkError(HsctlError):
    """Something over the network cannot be reached: the hub, a server under test, a load-test worker."""

    exit_code = ExitCode.NETWORK


class HubUnreachableError(NetworkError):
    """The Hugging Face hub (or another remote data or model source) cannot be reached."""


class ServerUnreachableError(NetworkError):
    """The server under test (or a load-test worker) cannot be reached or never becomes ready."""


class GateFailedError(HsctlError):
    """A quality gate or check was not met (drift detected, metric under a floor)."""

    exit_code = ExitCode.GATE_FAILED


class TrainingInterrupted(HsctlError):
    """Ctrl-C during training: a checkpoint was saved and ``hsctl train --resume`` continues."""

    exit_code = ExitCode.INTERRUPTED
