"""Open Inference Protocol (v2) inference with the binary tensor data extension, as Triton and KServe use it.

A request whose ``Inference-Header-Content-Length: N`` header is set has a body of
N bytes of JSON followed by the tensors sent as binary data, in the order of the
inputs whose ``parameters.binary_data_size`` gives their size. A BYTES tensor is,
per element, a 4-byte little-endian length and the bytes; FP32 is packed
little-endian floats. An output is returned as binary data when the request asks
(``outputs[i].parameters.binary_data``, or ``parameters.binary_data_output`` for
every output); the response then has the same header and layout, and
``Content-Type: application/octet-stream``.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Sequence
from typing import Any

from fastapi.responses import JSONResponse, Response

from hsctl.serve.errors import RequestError
from hsctl.serve.schemas import InferRequest, InferTensor

EXTENSIONS = ["binary_tensor_data"]
HEADER = "inference-header-content-length"
BINARY_SCOPE_KEY = "hsctl.v2_binary"
_BYTE_COUNT = re.compile(rb"[0-9]{1,20}")
# prediction_id: the id of each prediction in the log, the key that reviewed labels join on.
OUTPUTS = {"label": "BYTES", "hate_probability": "FP32", "prediction_id": "BYTES"}


def split_body(body: bytes, header: bytes) -> tuple[bytes, bytes]:
    """The JSON part and the binary part of a body with ``Inference-Header-Content-Length``.

    The length must be ASCII digits: ``int()`` and ``str.isdigit`` also take other
    scripts' digits (Arabic-Indic, fullwidth, superscripts), which no HTTP client sends.
    """
    text = header.strip()
    if not _BYTE_COUNT.fullmatch(text):
        shown = text.decode("latin-1")[:40]
        raise RequestError("invalid_binary", f"Inference-Header-Content-Length must be a byte count, not {shown!r}")
    size = int(text)
    if size > len(body):
        raise RequestError(
            "invalid_binary", f"Inference-Header-Content-Length is {size} but the body has {len(body)} bytes"
        )
    return body[:size], body[size:]


def _flatten(data: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in data:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def decode_bytes_tensor(raw: bytes) -> list[bytes]:
    """Elements of a BYTES tensor in binary form (4-byte little-endian length, then the bytes)."""
    items: list[bytes] = []
    pos, end = 0, len(raw)
    while pos < end:
        if pos + 4 > end:
            raise RequestError("invalid_binary", f"BYTES element {len(items)} has a truncated length prefix")
        (length,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if pos + length > end:
            raise RequestError("invalid_binary", f"BYTES element {len(items)} runs past its tensor's binary data")
        items.append(raw[pos : pos + length])
        pos += length
    return items


def encode_bytes_tensor(values: Sequence[str]) -> bytes:
    """A BYTES tensor in binary form."""
    parts = []
    for value in values:
        data = value.encode("utf-8")
        parts.append(struct.pack("<I", len(data)))
        parts.append(data)
    return b"".join(parts)


def encode_fp32_tensor(values: Sequence[float]) -> bytes:
    """An FP32 tensor in binary form (little-endian)."""
    return struct.pack(f"<{len(values)}f", *values)


def _binary_size(tensor: InferTensor) -> int | None:
    size = (tensor.parameters or {}).get("binary_data_size")
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise RequestError("invalid_binary", f"input {tensor.name!r}: binary_data_size must be a byte count")
    return size


def input_texts(body: InferRequest, binary: bytes) -> list[Any]:
    """The texts of the one BYTES input: from its JSON data, or as bytes from its binary data."""
    if len(body.inputs) != 1:
        raise RequestError("invalid_request", "expected exactly one input tensor of texts")
    tensor = body.inputs[0]
    if tensor.datatype != "BYTES":
        raise RequestError("invalid_request", f"input datatype must be BYTES, not {tensor.datatype}")
    size = _binary_size(tensor)
    if size is not None:
        if tensor.data is not None:
            raise RequestError("invalid_request", f"input {tensor.name!r} has both data and binary_data_size")
        if size != len(binary):
            raise RequestError(
                "invalid_binary", f"binary_data_size is {size} but the body has {len(binary)} bytes of binary data"
            )
        data: list[Any] = list(decode_bytes_tensor(binary))  # decoded (strict UTF-8) with the other checks
    else:
        if binary:
            raise RequestError("invalid_binary", f"{len(binary)} bytes of binary data that no input declares")
        if tensor.data is None:
            raise RequestError("invalid_request", f"input {tensor.name!r} has no data")
        data = _flatten(tensor.data)
    count = 1
    for dim in tensor.shape:
        count *= dim
    if count != len(data) or any(dim < 0 for dim in tensor.shape):
        raise RequestError("invalid_request", f"shape {tensor.shape} does not match {len(data)} data elements")
    return data


def _wants_binary(body: InferRequest) -> dict[str, bool]:
    """Which outputs to return, and whether each goes as binary data."""
    default = bool((body.parameters or {}).get("binary_data_output", False))
    if not body.outputs:
        return dict.fromkeys(OUTPUTS, default)
    wanted: dict[str, bool] = {}
    for output in body.outputs:
        if output.name not in OUTPUTS:
            raise RequestError(
                "invalid_request", f"unknown output {output.name!r}; this model has {', '.join(OUTPUTS)}"
            )
        wanted[output.name] = bool((output.parameters or {}).get("binary_data", default))
    return wanted


def check_outputs(body: InferRequest) -> None:
    """Reject requests for unknown outputs before any work is done."""
    _wants_binary(body)


def infer_response(
    body: InferRequest,
    *,
    model_name: str,
    model_version: str,
    threshold: float,
    labels: list[str],
    probs: list[float],
    headers: dict[str, str],
    prediction_ids: list[str] | None,
) -> Response:
    """The v2 response: JSON, or JSON and binary outputs when asked for.

    ``prediction_id`` is left out when there are no ids (the server keeps no prediction log).
    """
    values: dict[str, list[Any]] = {"label": labels, "hate_probability": probs}
    if prediction_ids is not None:
        values["prediction_id"] = prediction_ids
    head: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if body.id is not None:
        head["id"] = body.id
    head["parameters"] = {"threshold": threshold}
    outputs: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary in _wants_binary(body).items():
        if name not in values:
            continue
        datatype = OUTPUTS[name]
        tensor: dict[str, Any] = {"name": name, "shape": [len(probs)], "datatype": datatype}
        if binary:
            raw = encode_bytes_tensor(values[name]) if datatype == "BYTES" else encode_fp32_tensor(values[name])
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = values[name]
        outputs.append(tensor)
    head["outputs"] = outputs
    if not chunks:
        return JSONResponse(head, headers=headers)
    json_part = json.dumps(head, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
    return Response(
        json_part + b"".join(chunks),
        media_type="application/octet-stream",
        headers={**headers, "Inference-Header-Content-Length": str(len(json_part))},
    )
