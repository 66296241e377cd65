"""Real Open Inference Protocol clients against a real ``hsctl serve``: Triton's and KServe's.

``tritonclient[http]`` is a dev dependency and is driven as it is, with its
defaults (inputs as binary tensor data, every output as binary data) and with
binary data on and off per input and output.

KServe's ``InferenceRESTClient`` cannot be installed with the pinned set (the
``kserve`` package requires ``psutil<6`` and an older ``protobuf``), so its wire
format is reproduced here as ``kserve`` 0.21's ``InferRequest.to_rest`` /
``InferResponse.from_bytes`` produce and read it: JSON tensors with an ``id`` and
the ``model_name`` in the body and ``content-type: application/json``; or, with
``binary_data=True``, the orjson-encoded header followed by the raw tensors, with
``inference-header-content-length`` and ``content-type: application/octet-stream``;
responses are split at that header (or read whole), binary outputs by
``binary_data_size`` in output order.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TEXTS = ["what a lovely morning in the park", "ünïcödé, emoji 🤬 and أهلا", "all glorbians are worthless"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(quantized_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    artifacts = tmp_path_factory.mktemp("clients") / "artifacts"
    cmd = [sys.executable, "-m", "hsctl", "serve", "--onnx", "--model", str(quantized_model), "--port", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HSCTL_PATHS__ARTIFACTS": str(artifacts)},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(url + "/v2/health/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "server never became ready"
        time.sleep(0.05)
    yield url
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 0


@pytest.fixture(scope="module")
def expected(server: str) -> list[dict[str, Any]]:
    predictions: list[dict[str, Any]] = httpx.post(server + "/predict", json={"texts": TEXTS}).json()["predictions"]
    return predictions


# --- tritonclient.http, the real client --------------------------------------------------------------------------


@pytest.fixture
def triton(server: str) -> Iterator[Any]:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=server.removeprefix("http://"))
    yield client
    client.close()


def triton_input(binary_data: bool | None) -> Any:
    import tritonclient.http as httpclient

    tensor = httpclient.InferInput("text", [len(TEXTS)], "BYTES")
    array = np.array([t.encode("utf-8") for t in TEXTS], dtype=np.object_)
    if binary_data is None:
        tensor.set_data_from_numpy(array)  # the default: binary_data=True
    else:
        tensor.set_data_from_numpy(array, binary_data=binary_data)
    return tensor


def check_result(result: Any, expected: list[dict[str, Any]]) -> None:
    labels = [x.decode() if isinstance(x, bytes) else x for x in result.as_numpy("label").tolist()]
    probs = result.as_numpy("hate_probability")
    assert labels == [p["label"] for p in expected]
    assert probs.dtype == np.float32 and probs.shape == (len(TEXTS),)
    assert probs.tolist() == pytest.approx([p["hate_probability"] for p in expected], abs=1e-6)


def test_tritonclient_with_its_defaults(triton: Any, expected: list[dict[str, Any]]):
    assert triton.is_server_live() and triton.is_server_ready() and triton.is_model_ready("hsctl")
    assert "binary_tensor_data" in triton.get_server_metadata()["extensions"]
    assert triton.get_model_metadata("hsctl")["inputs"][0]["datatype"] == "BYTES"
    result = triton.infer("hsctl", [triton_input(None)], request_id="req-7")
    response = result.get_response()
    assert response["id"] == "req-7" and response["model_name"] == "hsctl"
    assert all("binary_data_size" in o["parameters"] for o in response["outputs"])  # binary out, as it asked
    check_result(result, expected)


@pytest.mark.parametrize("input_binary", [True, False])
@pytest.mark.parametrize("output_binary", [True, False])
def test_tritonclient_binary_data_on_and_off(triton: Any, expected, input_binary: bool, output_binary: bool):
    import tritonclient.http as httpclient

    outputs = [
        httpclient.InferRequestedOutput("label", binary_data=output_binary),
        httpclient.InferRequestedOutput("hate_probability", binary_data=not output_binary),
    ]
    result = triton.infer("hsctl", [triton_input(input_binary)], outputs=outputs)
    by_name = {o["name"]: o for o in result.get_response()["outputs"]}
    assert ("data" in by_name["label"]) is not output_binary
    assert ("data" in by_name["hate_probability"]) is output_binary
    check_result(result, expected)


def test_tritonclient_sees_our_errors(triton: Any):
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    tensor = httpclient.InferInput("text", [2], "BYTES")
    tensor.set_data_from_numpy(np.array([b"fine", b"\xff not utf-8"], dtype=np.object_))
    with pytest.raises(InferenceServerException) as error:
        triton.infer("hsctl", [tensor])
    assert error.value.status() == "422" and "text 1 is not valid UTF-8" in error.value.message()
    with pytest.raises(InferenceServerException) as missing:
        triton.infer("other", [triton_input(None)])
    assert missing.value.status() == "404"


# --- KServe InferenceRESTClient's wire format ---------------------------------------------------------------------


def kserve_request(binary_data: bool, binary_outputs: bool | None) -> tuple[bytes, dict[str, str]]:
    """What InferenceRESTClient sends for InferRequest(model_name, [InferInput('text', BYTES)], ...)."""
    request: dict[str, Any] = {"id": str(uuid.uuid4()), "model_name": "hsctl", "inputs": []}
    tensor: dict[str, Any] = {"name": "text", "shape": [len(TEXTS)], "datatype": "BYTES"}
    raw = b""
    if binary_data:
        raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in TEXTS)
        tensor["parameters"] = {"binary_data_size": len(raw)}
    else:
        tensor["data"] = TEXTS
    request["inputs"].append(tensor)
    if binary_outputs is not None:
        request["outputs"] = [
            {"name": "label", "parameters": {"binary_data": binary_outputs}},
            {"name": "hate_probability", "parameters": {"binary_data": binary_outputs}},
        ]
    head = json.dumps(request, separators=(",", ":"), ensure_ascii=False).encode()  # orjson's compact form
    if raw:
        return head + raw, {
            "inference-header-content-length": str(len(head)),
            "content-type": "application/octet-stream",
        }
    return head, {"content-type": "application/json"}


def kserve_response(response: httpx.Response) -> dict[str, list[Any]]:
    """InferResponse.from_bytes, as InferenceRESTClient.infer calls it."""
    assert response.is_success, response.text
    json_length = int(response.headers.get("inference-header-content-length", len(response.content)))
    head = json.loads(response.content[:json_length])
    assert head["model_name"] == "hsctl"
    start = json_length
    out: dict[str, list[Any]] = {}
    for output in head["outputs"]:
        parameters = output.get("parameters") or {}
        if "binary_data_size" in parameters:
            raw = response.content[start : start + parameters["binary_data_size"]]
            start += parameters["binary_data_size"]
            if output["datatype"] == "FP32":
                out[output["name"]] = np.frombuffer(raw, dtype="<f4").tolist()
            else:
                items, pos = [], 0
                while pos < len(raw):
                    (n,) = struct.unpack_from("<I", raw, pos)
                    items.append(raw[pos + 4 : pos + 4 + n].decode())
                    pos += 4 + n
                out[output["name"]] = items
        else:
            out[output["name"]] = output["data"]
    return out


@pytest.mark.parametrize("binary_data", [False, True])
@pytest.mark.parametrize("binary_outputs", [None, False, True])
def test_kserve_rest_client_wire_format(server: str, expected, binary_data: bool, binary_outputs: bool | None):
    body, headers = kserve_request(binary_data, binary_outputs)
    response = httpx.post(server + "/v2/models/hsctl/infer", content=body, headers=headers)
    if binary_outputs:
        assert response.headers["content-type"] == "application/octet-stream"
    else:
        assert response.headers["content-type"] == "application/json"  # KServe reads error bodies only then
    out = kserve_response(response)
    assert out["label"] == [p["label"] for p in expected]
    assert out["hate_probability"] == pytest.approx([p["hate_probability"] for p in expected], abs=1e-6)


def test_kserve_error_message_is_readable(server: str):
    """InferenceRESTClient reports response.json()['error'] when the content type is exactly application/json."""
    tensor = {"name": "text", "shape": [1], "datatype": "FP32", "data": [1]}
    body = json.dumps({"id": "x", "model_name": "hsctl", "inputs": [tensor]}).encode()
    response = httpx.post(server + "/v2/models/hsctl/infer", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "input datatype must be BYTES, not FP32"
