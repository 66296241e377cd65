"""The hub client's error mapping, against a local fake hub (no network)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hsctl.core.hub import resolve_revision
from hsctl.errors import DataError, HubUnreachableError


class FakeHub(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if "missing" in self.path:
            self.send_response(404)
            self.send_header("X-Error-Code", "RepoNotFound")
            body = b'{"error": "Repository not found"}'
        elif "gated" in self.path:
            self.send_response(401)
            self.send_header("X-Error-Code", "GatedRepo")
            body = b'{"error": "gated"}'
        elif "broken" in self.path:
            self.send_response(500)
            body = b'{"error": "internal"}'
        else:
            self.send_response(200)
            body = json.dumps({"id": "owner/data", "sha": "0123abcd", "siblings": []}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    import huggingface_hub.constants

    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield endpoint
    server.shutdown()


def test_resolves_commit(fake_hub: str):
    assert resolve_revision("owner/data", repo_type="dataset", revision=None, timeout=5, hint="h") == "0123abcd"
    assert resolve_revision("owner/model", repo_type="model", revision="v1", timeout=5, hint="h") == "0123abcd"


def test_missing_repo_is_a_data_error(fake_hub: str):
    with pytest.raises(DataError, match="not found on the Hugging Face hub"):
        resolve_revision("owner/missing", repo_type="dataset", revision=None, timeout=5, hint="h")


@pytest.mark.parametrize(("repo", "pattern"), [("owner/gated", "gated"), ("owner/broken", "answered with an error")])
def test_hub_errors_exit_5(fake_hub: str, repo: str, pattern: str):
    with pytest.raises(HubUnreachableError, match=pattern) as info:
        resolve_revision(repo, repo_type="dataset", revision=None, timeout=5, hint="use --source PATH")
    assert "use --source PATH" in str(info.value)


def test_refused_connection(monkeypatch: pytest.MonkeyPatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    with pytest.raises(HubUnreachableError, match="unreachable"):
        resolve_revision("owner/data", repo_type="dataset", revision=None, timeout=2, hint="h")


def test_offline_env_short_circuits(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnreachableError, match="HF_HUB_OFFLINE"):
        resolve_revision("owner/data", repo_type="model", revision=None, timeout=2, hint="h")
