# GTE similarity workbench: web UI + HTTP API on port 7860; TEI's gRPC API on 50051 when asked for.
#   CPU (default):  docker build -t gte-workbench .
#   CUDA:           docker build -t gte-workbench:cuda --build-arg TORCH_INDEX=cu128 .
#   model baked in: docker build -t gte-workbench:offline --build-arg MODEL_DIR=models/gte-large-zh .
# It installs the requirements file CI installs (with the torch version CI pins) and starts with
# README's command, `python app.py`; tests/project/test_dockerfile.py checks that, runs that command with
# this file's ENV and runs the HEALTHCHECK against it, so the image cannot drift unseen.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

# torch from PyTorch's wheel index: "cpu" (small, default) or a CUDA build such as cu126/cu128
# (the wheels bring their CUDA libraries; the host needs only the NVIDIA driver + container toolkit).
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=cpu
# A model folder inside the build context to bake in for air-gapped sites (empty: none; the
# container then downloads GTE_MODEL on first start into the /data volume).
ARG MODEL_DIR=

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HOME=/data/huggingface \
    MODELSCOPE_CACHE=/data/modelscope \
    GTE_EXPORT_CACHE=/data/onnx

RUN useradd --create-home --uid 1000 app && mkdir -p /data && chown app /data
WORKDIR /app

COPY requirements.txt .
RUN pip install torch==${TORCH_VERSION} --index-url https://download.pytorch.org/whl/${TORCH_INDEX} \
 && pip install -r requirements.txt

COPY --chown=app app.py ./
COPY --chown=app gte_ui ./gte_ui
COPY --chown=app ${MODEL_DIR:-docker/no-model} /opt/gte-model/
# A baked model is checked by the same code the app uses, so a wrong folder fails the build.
RUN if [ -n "$MODEL_DIR" ]; then python -c "from pathlib import Path; from gte_ui.engine.models.hub import check_model_folder; check_model_folder(Path('/opt/gte-model'))"; fi
# With a baked model: use it and never touch the network. Without: both stay empty, which the
# app reads as unset (defaults: GTE-large-zh from ModelScope, online).
ENV GTE_MODEL=${MODEL_DIR:+/opt/gte-model} \
    GTE_OFFLINE=${MODEL_DIR:+1}

USER app
VOLUME ["/data"]
# 7860: UI + HTTP API. 50051: TEI's gRPC API (tei.v1, health, reflection), off unless the container
# gets GTE_GRPC_PORT=50051:  docker run -p 7860:7860 -p 50051:50051 -e GTE_GRPC_PORT=50051 gte-workbench
EXPOSE 7860 50051
HEALTHCHECK --interval=30s --timeout=10s --start-period=600s --retries=3 \
  CMD ["python", "-m", "gte_ui", "health"]
CMD ["python", "app.py"]
