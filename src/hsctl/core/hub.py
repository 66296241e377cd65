"""Hugging Face hub access that fails fast and clearly when the hub is unreachable.

The default client retries for tens of seconds; users scripting hsctl in CI
need a quick, explicit failure that names the offline way out.
"""

from __future__ import annotations

from typing import Literal

from hsctl.errors import DataError, HubUnreachableError

RepoType = Literal["dataset", "model"]


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (read at call time, not import time)."""
    import os

    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_revision(repo_id: str, *, repo_type: RepoType, revision: str | None, timeout: float, hint: str) -> str:
    """Ask the hub for the commit a repo revision points to, within ``timeout`` seconds.

    Raises :class:`HubUnreachableError` (exit 5) when offline or unreachable and
    :class:`DataError` when the repository or revision does not exist.
    """
    if hub_offline():
        raise HubUnreachableError(f"HF_HUB_OFFLINE is set, so {repo_type} {repo_id!r} cannot be fetched", hint=hint)
    import requests
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api = HfApi()
    try:
        lookup = api.dataset_info if repo_type == "dataset" else api.model_info
        sha = lookup(repo_id, revision=revision, timeout=timeout).sha
    except OfflineModeIsEnabled as exc:
        raise HubUnreachableError(f"hub offline mode is enabled; cannot fetch {repo_id!r}", hint=hint) from exc
    except GatedRepoError as exc:
        raise HubUnreachableError(
            f"{repo_type} {repo_id!r} is gated: accept its terms on the hub and log in (huggingface-cli login)",
            hint=hint,
        ) from exc
    except RevisionNotFoundError as exc:
        raise DataError(f"revision {revision!r} not found in {repo_type} {repo_id!r}") from exc
    except RepositoryNotFoundError as exc:
        raise DataError(f"{repo_type} {repo_id!r} not found on the Hugging Face hub (or it is private)") from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise HubUnreachableError(
            f"the Hugging Face hub is unreachable ({type(exc).__name__} within {timeout:g}s)", hint=hint
        ) from exc
    except HfHubHTTPError as exc:
        raise HubUnreachableError(
            f"the Hugging Face hub answered with an error: {str(exc).splitlines()[0]}", hint=hint
        ) from exc
    return str(sha or revision or "main")
