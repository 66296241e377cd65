"""Request and response models of the server, and the error responses each route documents.

The handlers return ready-made JSON (no response validation on the hot path);
these models give the OpenAPI document its schemas, and the schemathesis test
checks that real responses conform to them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

ErrorType = Literal[
    "invalid_json",
    "invalid_binary",
    "invalid_encoding",
    "unsupported_encoding",
    "unauthorized",
    "not_found",
    "method_not_allowed",
    "body_too_large",
    "body_timeout",
    "too_many_headers",
    "head_too_large",
    "head_timeout",
    "invalid_http",
    "too_many_texts",
    "text_too_long",
    "invalid_request",
    "invalid_text",
    "empty_text",
    "unprocessable_text",
    "overloaded",
    "timeout",
    "not_ready",
    "internal",
    "http_error",
]


class ErrorBody(BaseModel):
    """Every error: a message for people and a type for programs."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"error": "text 0 is empty", "type": "empty_text"}]})
    error: str = Field(description="What went wrong; names the text (`text 3 ...`) when one text is at fault.")
    type: ErrorType = Field(description="The kind of error (see the HTTP API page).")


class PredictRequest(BaseModel):
    """One text (`text`) or a list of texts (`texts`), not both."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"text": "what a lovely day"}, {"texts": ["first text", "second text"]}]},
    )
    text: StrictStr | None = Field(None, description="A single text.")
    texts: list[StrictStr] | None = Field(None, description="Several texts, scored together, answered in order.")

    @model_validator(mode="after")
    def _exactly_one(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self


class Prediction(BaseModel):
    """The prediction for one text."""

    label: str = Field(description="`non-hate` or `hate` (the model's label names).")
    label_id: int = Field(description="0 or 1.")
    hate_probability: float = Field(description="P(hate), after the prior shift when the model has a target prior.")
    threshold: float = Field(description="The model's decision threshold.")
    model_version: str = Field(description="Run name and weights digest, e.g. `pipeline@2a591bae`.")
    prediction_id: str | None = Field(
        None,
        description="This prediction's id in the prediction log: what `hsctl review ingest` joins labels on "
        "(absent when the server keeps no log).",
    )


class Predictions(BaseModel):
    """The predictions for `texts`, in the order given."""

    predictions: list[Prediction]
    threshold: float
    model_version: str


class InferTensor(BaseModel):
    """An input tensor of the Open Inference Protocol (v2): the texts, as BYTES."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    shape: list[int]
    datatype: StrictStr = Field(description="Must be `BYTES`.")
    data: list[Any] | None = Field(
        None, description="The texts (nested lists are flattened); absent when sent as binary data."
    )
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size`: the tensor is in the binary part of the body, this many bytes."
    )


class RequestedOutput(BaseModel):
    """An output the client asks for; `parameters.binary_data: true` returns it as binary data."""

    model_config = ConfigDict(extra="allow")
    name: StrictStr
    parameters: dict[str, Any] | None = None


class InferRequest(BaseModel):
    """``POST /v2/models/{name}/infer`` body (the JSON part, with the binary tensor data extension)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [{"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["one", "two"]}]}]
        },
    )
    id: StrictStr | None = None
    inputs: list[InferTensor]
    outputs: list[RequestedOutput] | None = Field(
        None, description="Outputs to return (`label`, `hate_probability`, `prediction_id`); all when absent."
    )
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_output: true` returns every output as binary data."
    )


class OutputTensor(BaseModel):
    """An output tensor: `label` (BYTES), `hate_probability` (FP32) or `prediction_id` (BYTES), one per text."""

    name: str
    shape: list[int]
    datatype: Literal["BYTES", "FP32"]
    data: list[str] | list[float] | None = Field(None, description="Absent when the output is sent as binary data.")
    parameters: dict[str, Any] | None = Field(
        None, description="`binary_data_size`: the output is in the binary part of the body, this many bytes."
    )


class InferResponse(BaseModel):
    """The v2 inference response (the JSON part when binary outputs follow it)."""

    model_name: str
    model_version: str
    id: str | None = Field(None, description="The request's `id`, when it had one.")
    parameters: dict[str, Any] = Field(description="`threshold`: the model's decision threshold.")
    outputs: list[OutputTensor]


class ServerMetadata(BaseModel):
    """v2 server metadata."""

    name: str
    version: str
    extensions: list[str] = Field(description="Protocol extensions: `binary_tensor_data`.")


class TensorMetadata(BaseModel):
    """A tensor of the model's signature."""

    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    """v2 model metadata."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    parameters: dict[str, Any] = Field(description="`threshold`, `backend` and `labels`.")


class ModelReady(BaseModel):
    """v2 model readiness."""

    name: str
    ready: bool


class Live(BaseModel):
    """Liveness."""

    live: bool


class Ready(BaseModel):
    """Readiness; `reason` says why not."""

    ready: bool
    reason: str | None = None


ERROR_DESCRIPTIONS = {
    400: "The body is not valid JSON, its binary tensor data is malformed, or its gzip/deflate encoding is corrupt.",
    401: "An API key is set and the request has none or a wrong one (`WWW-Authenticate: Bearer`).",
    404: "An unknown model name or version.",
    413: "The body (after decompression), the number of texts or a text is over its limit.",
    415: "A `Content-Encoding` other than gzip, deflate or identity.",
    422: "An invalid request, or a text that cannot be scored (invalid Unicode, empty, failed in the model); "
    "the message names the text.",
    500: "An unexpected failure in the server (never caused by the request's content).",
    503: "Not admitted (expected wait over `serve.max_queue_delay_ms`), timed out, shutting down, or the model "
    "is still loading.",
}
_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entries for the error statuses a route can return, all with :class:`ErrorBody`."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[status]}
        if status == 503:
            entry["headers"] = _RETRY_AFTER
        if status == 401:
            entry["headers"] = _AUTHENTICATE
        out[status] = entry
    return out
