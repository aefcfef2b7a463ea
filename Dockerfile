# GTE similarity workbench. CPU image by default; CUDA image with --build-arg TORCH_INDEX=cu124.
#   docker build -t gte-workbench .
#   docker build -t gte-workbench:cuda --build-arg TORCH_INDEX=cu124 .
#   docker build -t gte-workbench:offline --build-arg MODEL_DIR=models/gte-large-zh .   (air-gapped)
# The same requirements file and start command that CI tests (see tests/test_dockerfile.py).
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX=cpu
# A model folder inside the build context to bake into the image (empty: download at run time).
ARG MODEL_DIR=

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GRADIO_SERVER_NAME=0.0.0.0 \
    GRADIO_SERVER_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    HF_HOME=/data/huggingface \
    MODELSCOPE_CACHE=/data/modelscope

RUN useradd --create-home --uid 1000 app && mkdir -p /data && chown app /data
WORKDIR /app

COPY requirements.txt .
RUN pip install torch==${TORCH_VERSION} --index-url https://download.pytorch.org/whl/${TORCH_INDEX} \
 && pip install -r requirements.txt

COPY --chown=app . .
# Baked model: GTE_MODEL points at it and GTE_OFFLINE keeps the network out (both stay empty,
# i.e. unset for the app, when MODEL_DIR is not given).
RUN if [ -n "$MODEL_DIR" ]; then test -f "/app/$MODEL_DIR/config.json" || \
      { echo "MODEL_DIR=$MODEL_DIR has no config.json" >&2; exit 1; }; fi
ENV GTE_MODEL=${MODEL_DIR:+/app/${MODEL_DIR}} \
    GTE_OFFLINE=${MODEL_DIR:+1}

USER app
VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/health', timeout=4)"
CMD ["python", "app.py"]
