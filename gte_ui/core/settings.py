"""Settings chosen at startup: CLI flags, each with an environment-variable equivalent.

Precedence: CLI flag > environment variable > default. ``parse_settings(["--help"])`` explains
every option. Only the standard library is imported here, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gte_ui.core.errors import ConfigError

#: GTE-large-zh on ModelScope, where most users in China fetch it.
DEFAULT_MODEL = "iic/nlp_gte_sentence-embedding_chinese-large"

#: Known GTE Chinese models: ModelScope id -> Hugging Face id (either id works with --model).
KNOWN_MODELS: dict[str, str] = {
    "iic/nlp_gte_sentence-embedding_chinese-large": "thenlper/gte-large-zh",
    "iic/nlp_gte_sentence-embedding_chinese-base": "thenlper/gte-base-zh",
    "iic/nlp_gte_sentence-embedding_chinese-small": "thenlper/gte-small-zh",
}

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "fp16", "bf16", "int8")
LONG_TEXT_MODES = ("truncate", "chunk")
#: padded tokens per forward pass when --max-batch-tokens is not given: 8 x 512 tokens. On 2 CPU
#: cores 4096 ran 32 x 512-token texts as fast as 8192 at ~400 MB less peak memory (performance.md)
DEFAULT_MAX_BATCH_TOKENS = 4096
HUBS = ("auto", "modelscope", "huggingface")
#: where an index keeps its vectors (docs/performance.md, "Corpus index", measured the choice)
INDEX_STORES = ("exact", "int8", "hnsw", "milvus")
LOG_LEVELS = ("debug", "info", "warning", "error")


#: the --int8-mode values (what each does, and which layers it keeps fp32: gte_ui.engine.backends.int8)
INT8_MODE_NAMES = ("accurate", "fast", "dynamic")
INT8_ENGINES = ("onnx", "torch", "openvino")
#: the --int8-mode values the OpenVINO engine has (torch's per-tensor ``dynamic`` has no OpenVINO form)
OPENVINO_INT8_MODES = ("accurate", "fast")


def check_openvino_mode(mode: str) -> None:
    """Raise :class:`ConfigError` when ``--int8-mode`` ``mode`` has no OpenVINO scheme."""
    if mode not in OPENVINO_INT8_MODES:
        raise ConfigError(f"--int8-mode {mode} has no OpenVINO form; with --int8-engine openvino choose "
                          f"{' or '.join(OPENVINO_INT8_MODES)}",
                          f"--int8-mode {mode} 不适用于 OpenVINO；--int8-engine openvino 请选 "
                          f"{' 或 '.join(OPENVINO_INT8_MODES)}")

#: Options that take one of a fixed set of values: --help lists them, validate() enforces them.
CHOICES: dict[str, tuple[str, ...]] = {
    "hub": HUBS, "device": DEVICES, "precision": PRECISIONS, "int8_mode": INT8_MODE_NAMES,
    "int8_engine": INT8_ENGINES, "long_text": LONG_TEXT_MODES, "log_level": LOG_LEVELS,
    "index_store": INDEX_STORES,
}

Device = Literal["auto", "cpu", "cuda"]
Precision = Literal["auto", "fp32", "fp16", "bf16", "int8"]


@dataclass(frozen=True)
class ModelSpec:
    """``--model`` or one entry of ``--models``: ``[NAME=]SOURCE[@PRECISION]``."""

    source: str  # id or folder
    name: str | None = None  # what APIs call it (default: the id, or the folder's name)
    precision: str | None = None  # overrides --precision for this model


def parse_model_spec(text: str, flag: str = "--models") -> ModelSpec:
    """``small=thenlper/gte-small-zh@int8`` → ModelSpec(source, name, precision): the one parser of
    ``--model`` and of each ``--models`` entry (``flag`` is the one messages name).

    Raises:
        ConfigError: an empty part or an unknown precision.
    """
    what = f"{flag} entry" if flag == "--models" else flag
    rest = text.strip()
    name = None
    if "=" in rest:
        name, _, rest = rest.partition("=")
        name = name.strip()
        if not name:
            raise ConfigError(f"{what} {text!r} has an empty name before '='", f"{flag} {text!r} 名称为空")
    precision = None
    head, at, tail = rest.rpartition("@")
    if at and tail.strip().lower() in PRECISIONS:
        rest, precision = head, tail.strip().lower()
    elif at and "/" not in tail and not tail.strip().startswith("."):
        raise ConfigError(f"{what} {text!r}: unknown precision {tail!r}; choose one of: "
                          f"{', '.join(PRECISIONS)}", f"{flag} {text!r} 的精度 {tail!r} 无效")
    rest = rest.strip()
    if not rest:
        raise ConfigError(f"{what} {text!r} names no model", f"{flag} {text!r} 没有模型")
    return ModelSpec(source=rest, name=name, precision=precision)


def on_spaces(env: Mapping[str, str]) -> bool:
    """True when ``env`` is Hugging Face Spaces' (they set ``SPACE_ID`` and ``SYSTEM=spaces``)."""
    return bool(env.get("SPACE_ID")) or env.get("SYSTEM") == "spaces"


#: ModelScope's API when neither MODELSCOPE_ENDPOINT nor MODELSCOPE_DOMAIN says otherwise.
MODELSCOPE_DEFAULT_ENDPOINT = "https://modelscope.cn"


@dataclass(frozen=True)
class HubClientEnv:
    """The hub clients' own variables, which they read themselves; the engine's reachability
    probe (gte_ui.engine.models.hub) must ask the same address with the same credentials."""

    hf_endpoint: str | None  # HF_ENDPOINT; None: huggingface_hub's default
    modelscope_endpoint: str  # MODELSCOPE_ENDPOINT, else the older MODELSCOPE_DOMAIN, with a scheme
    modelscope_token: bool  # MODELSCOPE_API_TOKEN is set


def hub_client_env(env: Mapping[str, str] | None = None) -> HubClientEnv:
    env = os.environ if env is None else env
    modelscope = (env.get("MODELSCOPE_ENDPOINT") or env.get("MODELSCOPE_DOMAIN") or MODELSCOPE_DEFAULT_ENDPOINT).strip()
    if not modelscope.lower().startswith(("http://", "https://")):
        modelscope = "https://" + modelscope
    return HubClientEnv(hf_endpoint=(env.get("HF_ENDPOINT") or "").rstrip("/") or None,
                        modelscope_endpoint=modelscope.rstrip("/"),
                        modelscope_token=bool(env.get("MODELSCOPE_API_TOKEN")))


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to know at startup. Immutable once built."""

    model: str = DEFAULT_MODEL
    #: what the header, APIs and messages call ``model`` (``--model NAME=SOURCE``); None: the id or
    #: the folder's name
    model_name: str | None = None
    #: more models served beside ``model`` (the default): ``[NAME=]SOURCE[@PRECISION]`` each
    models: tuple[str, ...] = field(default_factory=tuple)
    max_memory: int | None = None  # bytes all loaded models may take (estimated before loading)
    unknown_warn: float = 0.10  # share of [UNK] tokens in a text above which answers warn
    hub: str = "auto"
    revision: str | None = None
    offline: bool = False
    model_cache_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    int8_mode: str = "accurate"  # accurate | fast | dynamic (see INT8_MODE_NAMES)
    int8_engine: str = "onnx"  # onnx (ONNX Runtime, cached export) | torch (eager) | openvino (NNCF int8, accurate or fast)
    export_cache: str = "~/.cache/gte_ui/onnx"  # int8 ONNX exports, one folder per model + mode
    calibration_dir: str = "~/.cache/gte_ui/calibration"  # the user's verdict bands, one file per model
    index_dir: str = "~/.cache/gte_ui/indexes"  # corpus indexes (`index build`), one folder each
    index_store: str = "int8"  # how a new index searches: exact | int8 | hnsw | milvus (bench_index chose int8)
    hnsw_m: int = 32  # HNSW graph degree (index build --store hnsw)
    hnsw_ef_search: int = 256  # HNSW candidates per query: recall against speed
    milvus_uri: str | None = None  # None: Milvus Lite, a file inside each index
    max_length: int | None = None  # None: the model's own limit (512 for GTE)
    # Reranker (cross-encoder); None: the rerank operations answer from the embedding cosine.
    reranker: str | None = None
    reranker_precision: str | None = None  # None: the same as --precision
    reranker_max_length: int | None = None  # None: the reranker's own limit
    reranker_instruction: str | None = None  # decoder rerankers: None = the model card's instruction
    trust_remote_code: bool = False  # run modelling code shipped inside a hub repo
    batch_size: int = 32
    #: padded tokens (texts x longest text) per forward pass: TEI's --max-batch-tokens. Bounds
    #: memory at any text length; None: DEFAULT_MAX_BATCH_TOKENS, raised to the model's max length
    #: when that is longer (see docs/performance.md for the measured choice)
    max_batch_tokens: int | None = None
    threads: int | None = None  # torch intra-op threads on CPU; None: torch's default
    host: str = "127.0.0.1"
    port: int = 7860
    grpc_port: int | None = None  # TEI's gRPC API (tei.proto) on this port; None: off
    cache_size: int = 10_000  # cached vectors (entries)
    cache_bytes: int = 256 * 2**20  # and at most this many bytes of vectors
    # Limits, enforced before any model work.
    max_chars: int = 20_000  # characters per text
    max_texts: int = 256  # texts per embedding request
    max_candidates: int = 1_000  # candidates per ranking
    max_matrix: int = 50  # texts in the N x N matrix
    #: tokens of model work one request may cost (windows with --long-text chunk); over it: 413
    max_tokens_per_request: int = 524_288
    map_max_points: int = 5_000  # points an embedding map draws; bigger corpora are sampled
    max_upload_bytes: int = 10 * 2**20
    max_body_bytes: int = 32 * 2**20
    # Dynamic batching.
    batch_wait_ms: float = 5.0
    max_queue: int = 1_024  # texts waiting for the model before requests get 429
    concurrency: int = 8  # Gradio queue workers per event
    # Verdict bands (cosine): > high 高度相似, > mid 中等相似, else 差异较大.
    verdict_high: float | None = None  # None: calibration file for the model, else 0.75
    verdict_mid: float | None = None  # None: calibration file for the model, else 0.50
    long_text: str = "truncate"
    # Access control.
    auth: str | None = None  # "user:pass" for the UI
    allow_calibration: bool = False  # let the UI save verdict bands for everyone (implied by auth)
    allow_index_build: bool = False  # let the Search tab build indexes on the server's disk (implied by auth)
    api_key: str | None = None  # Bearer token for the REST routes
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    #: Host names the server answers to (``*.example.org`` allowed); empty: any Host
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    # Uploads (Gradio's /gradio_api/upload): per client, per minute and on disk in total.
    max_upload_client_bytes: int = 100 * 2**20  # bytes one client may upload per hour
    max_uploads_per_minute: int = 30  # uploads one client may start per minute
    max_upload_total_bytes: int = 2 * 2**30  # Gradio's upload/cache folder, all clients together
    # HTTP server (uvicorn): bounds on what one connection may hold.
    max_header_bytes: int = 64 * 2**10  # request line + headers
    max_connections: int = 1_000  # open connections + in-flight requests, then 503
    log_level: str = "info"
    spaces: bool = False  # running on Hugging Face Spaces: no flag, read from SPACE_ID / SYSTEM
    # Scale-out (docs/scale.md): a shared Redis cache tier, metrics, shutdown, Ray Serve replicas.
    cache_url: str | None = None  # redis://[:password@]host:port/db or rediss://…
    cache_ttl: int = 7 * 86_400  # seconds a vector lives in Redis; 0: no expiry
    cache_timeout_ms: float = 250.0  # Redis socket timeout: a slow Redis is skipped, never waited on
    cache_secret: str | None = field(default=None, repr=False)  # HMAC key signing shared-cache entries; unsigned entries are refused
    metrics_open: bool = False  # /metrics without --api-key
    shutdown_timeout: float = 30.0  # seconds SIGTERM waits for in-flight requests
    replicas: int | None = None  # Ray Serve embedder replicas; None: the plain process
    min_replicas: int | None = None  # with max_replicas: Serve autoscaling bounds
    max_replicas: int | None = None
    ray_address: str | None = None  # join this Ray cluster (default: start a local one)

    @property
    def calibration_allowed(self) -> bool:
        """Whether UI users may change the server-wide verdict bands: only behind a login, or
        when the operator says so explicitly (an anonymous browser must not change every
        user's verdicts)."""
        return bool(self.auth) or self.allow_calibration

    @property
    def index_build_allowed(self) -> bool:
        """Whether UI users may build corpus indexes: each one stays in --index-dir until deleted,
        so an anonymous page must not be able to fill the disk with them."""
        return bool(self.auth) or self.allow_index_build

    def replace(self, **changes: Any) -> Settings:
        return validate(dataclasses.replace(self, **changes))


def _bool(value: str) -> bool:
    v = value.strip().lower()
    if v in ("1", "true", "yes", "on"):
        return True
    if v in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r} (use 1/0, true/false, yes/no)")


def _size(value: str) -> int:
    """A byte count: ``123``, ``800M``, ``6G``, ``1.5GB`` (binary units)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*", value, flags=re.I)
    if not m:
        raise ValueError(f"not a size: {value!r} (use e.g. 800M or 6G)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2).upper() or " "))


def _csv(value: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in value.split(",") if s.strip())


# (field, flags, env vars, type, help). One table feeds argparse and the env lookup.
_OPTIONS: list[tuple[str, tuple[str, ...], tuple[str, ...], Any, str]] = [
    ("model", ("--model", "-m"), ("GTE_MODEL",), str,
     "ModelScope id, Hugging Face id, or a local model folder, as [NAME=]SOURCE[@PRECISION] like "
     "--models (NAME: what the page and APIs call it; @PRECISION: as --precision) "
     f"(default: {DEFAULT_MODEL}; gte-base/small-zh work the same way)"),
    ("models", ("--models",), ("GTE_MODELS",), _csv,
     "more models to serve beside --model (the default), comma-separated, each [NAME=]SOURCE[@PRECISION], "
     "e.g. small=thenlper/gte-small-zh,large-int8=./gte-large@int8; every API takes an optional "
     "'model' naming one (see docs/models.md)"),
    ("max_memory", ("--max-memory",), ("GTE_MAX_MEMORY",), _size,
     "refuse to load models whose estimated memory together exceeds this, e.g. 6G or 800M (default: no limit)"),
    ("unknown_warn", ("--unknown-warn",), ("GTE_UNKNOWN_WARN",), float,
     "warn when more than this share of a text's tokens are unknown to the model's vocabulary (default 0.10)"),
    ("hub", ("--hub",), ("GTE_HUB",), str,
     "where to download an id from: auto (ModelScope for iic/ and damo/ ids, else Hugging Face), "
     "modelscope or huggingface"),
    ("revision", ("--revision",), ("GTE_REVISION",), str, "model revision / branch / tag"),
    ("offline", ("--offline",), ("GTE_OFFLINE", "HF_HUB_OFFLINE"), _bool,
     "never touch the network: use a local folder or what is already in the hub caches"),
    ("model_cache_dir", ("--model-cache-dir",), ("GTE_MODEL_CACHE_DIR",), str,
     "download cache folder (default: the hub clients' own caches)"),
    ("device", ("--device",), ("GTE_DEVICE",), str,
     "auto (CUDA when a GPU is present, else CPU), cpu or cuda"),
    ("precision", ("--precision",), ("GTE_PRECISION",), str,
     "auto (fp16 on CUDA; on CPU int8 where the CPU has AVX-512 VNNI, AVX-VNNI or AMX, and on a "
     "Space, else fp32), fp32, fp16 (CUDA only), bf16, or int8 (CPU only)"),
    ("int8_mode", ("--int8-mode",), ("GTE_INT8_MODE",), str,
     "with --precision int8: accurate (default; W8A8 with per-token asymmetric activations and each "
     "FFN's outlier channels in fp32 (onnx), or FFN output projections fp32 (torch); mean |dcos| vs "
     "fp32 0.0023), fast (symmetric per-token W8A8 everywhere, as fast at batch 32, 0.0044) or dynamic "
     "(torch quantize_dynamic, 0.028); with --int8-engine openvino: accurate or fast (see there)"),
    ("int8_engine", ("--int8-engine",), ("GTE_INT8_ENGINE",), str,
     "with --precision int8: onnx (default; ONNX Runtime W8A8, exported once into --export-cache), "
     "torch (eager PyTorch, no export, slower: see docs/performance.md) or openvino (OpenVINO + NNCF, "
     "exported once; needs `pip install gte-ui[openvino]`): with --int8-mode accurate ~1.1-1.3x the "
     "onnx engine at 128-512 tokens inside the same accuracy bound (mean |dcos| 0.002-0.003), with "
     "fast (static int8) the fastest on CPU, ~1.5x onnx, but mean |dcos| ~0.004-0.006; no dynamic mode)"),
    ("export_cache", ("--export-cache",), ("GTE_EXPORT_CACHE",), str,
     "folder for the int8 ONNX (and OpenVINO) exports, made once per model + int8 mode + library versions "
     "(default "
     "~/.cache/gte_ui/onnx; in Docker /data/onnx, on the volume, so a restart does not export again)"),
    ("calibration_dir", ("--calibration-dir",), ("GTE_CALIBRATION_DIR",), str,
     "folder for verdict bands saved from the Evaluate tab or `evaluate --save-calibration`, one "
     "file per model, read at start (default ~/.cache/gte_ui/calibration)"),
    ("index_dir", ("--index-dir",), ("GTE_INDEX_DIR",), str,
     "folder of corpus indexes built by `index build` or the 检索 Search tab and served by /v1/search "
     "(default ~/.cache/gte_ui/indexes; an index built while serving appears without a restart)"),
    ("index_store", ("--index-store",), ("GTE_INDEX_STORE",), str,
     "how a new index searches: int8 (default: exact scan of an int8 copy with usearch, best candidates "
     "rescored in float32; recall@10 1.0, 3.5x faster than exact), exact (float32 matrix, BLAS), hnsw "
     "(faiss-cpu HNSW graph) or milvus (pymilvus: Milvus Lite file, or --milvus-uri); see docs/performance.md"),
    ("hnsw_m", ("--hnsw-m",), ("GTE_HNSW_M",), int, "HNSW graph degree of --index-store hnsw (default 32)"),
    ("hnsw_ef_search", ("--hnsw-ef-search",), ("GTE_HNSW_EF_SEARCH",), int,
     "HNSW candidates looked at per query (default 256): higher is slower and closer to exact"),
    ("milvus_uri", ("--milvus-uri",), ("GTE_MILVUS_URI",), str,
     "with --index-store milvus: a Milvus server or cluster (http://host:19530); default: Milvus Lite, "
     "a file inside each index"),
    ("max_length", ("--max-length",), ("GTE_MAX_LENGTH",), int,
     "tokens per text before truncation (default: the model's own limit, 512 for GTE)"),
    ("reranker", ("--reranker",), ("GTE_RERANKER",), str,
     "a cross-encoder (ModelScope id, Hugging Face id or folder; e.g. BAAI/bge-reranker-base) or a "
     "decoder reranker (Qwen/Qwen3-Reranker-0.6B: the yes/no answer of its prompt) for the "
     "rerank routes and the 重排 Rerank tab (default: none; reranking then answers from the embedding "
     "cosine and says so)"),
    ("reranker_precision", ("--reranker-precision",), ("GTE_RERANKER_PRECISION",), str,
     "the reranker's precision: auto, fp32, fp16 (CUDA), bf16 or int8 (CPU; --int8-mode applies) "
     "(default: the same as --precision)"),
    ("reranker_max_length", ("--reranker-max-length",), ("GTE_RERANKER_MAX_LENGTH",), int,
     "tokens per query + document pair before truncation (default: the reranker's own limit)"),
    ("reranker_instruction", ("--reranker-instruction",), ("GTE_RERANKER_INSTRUCTION",), str,
     "decoder rerankers (Qwen3-Reranker): the task instruction in their prompt (default: the model "
     "card's 'Given a web search query, retrieve relevant passages that answer the query')"),
    ("trust_remote_code", ("--trust-remote-code",), ("GTE_TRUST_REMOTE_CODE",), _bool,
     "run Python modelling code that a model's hub repo ships (auto_map in config.json; e.g. "
     "Alibaba-NLP/gte-multilingual-base and its reranker), for the embedder and the reranker. Off by default: that code runs with this "
     "server's rights, so turn it on only for repos you trust"),
    ("batch_size", ("--batch-size",), ("GTE_BATCH_SIZE",), int, "most texts per forward pass (default 32)"),
    ("max_batch_tokens", ("--max-batch-tokens",), ("GTE_MAX_BATCH_TOKENS",), int,
     "most padded tokens per forward pass (texts x the longest one's tokens; TEI's name): bounds "
     f"memory for long texts: {DEFAULT_MAX_BATCH_TOKENS} is 8 texts of 512 tokens or 16 of 256 (default "
     f"{DEFAULT_MAX_BATCH_TOKENS}, or the model's max length when that is longer)"),
    ("threads", ("--threads",), ("GTE_THREADS",), int, "CPU threads for inference (default: all cores)"),
    ("host", ("--host",), ("GRADIO_SERVER_NAME", "GTE_HOST"), str,
     "address to listen on (default 127.0.0.1; 0.0.0.0 to serve the network; 0.0.0.0 on Spaces)"),
    ("port", ("--port",), ("GRADIO_SERVER_PORT", "GTE_PORT", "PORT"), int, "port (default 7860)"),
    ("grpc_port", ("--grpc-port",), ("GTE_GRPC_PORT",), int,
     "also serve TEI's gRPC API (tei.v1: Info, Embed, Predict, Rerank, Tokenize; health, reflection) on "
     "this port, behind the same --api-key and limits (default: off; docs/api.md, TEI)"),
    ("cache_size", ("--cache-size",), ("GTE_CACHE_SIZE",), int,
     "embeddings kept in the LRU cache, 0 disables it (default 10000)"),
    ("cache_bytes", ("--cache-bytes",), ("GTE_CACHE_BYTES",), int,
     "upper bound of the cache in bytes (default 256 MiB)"),
    ("max_chars", ("--max-chars",), ("GTE_MAX_CHARS",), int, "characters per text (default 20000)"),
    ("max_texts", ("--max-texts",), ("GTE_MAX_TEXTS",), int, "texts per embedding request (default 256)"),
    ("max_candidates", ("--max-candidates",), ("GTE_MAX_CANDIDATES",), int,
     "candidates per ranking request (default 1000)"),
    ("max_matrix", ("--max-matrix",), ("GTE_MAX_MATRIX",), int, "texts in the similarity matrix (default 50)"),
    ("max_tokens_per_request", ("--max-tokens-per-request",), ("GTE_MAX_TOKENS_PER_REQUEST",), int,
     "tokens of model work one request may cost, after truncation (every window with --long-text chunk; "
     "each query-document pair's window for a rerank); more is refused with 413 (default 524288: 1000 candidates of 512 tokens)"),
    ("map_max_points", ("--map-max-points",), ("GTE_MAP_MAX_POINTS",), int,
     "points an embedding map draws; a bigger corpus is sampled, and the map says so (default 5000)"),
    ("max_upload_bytes", ("--max-upload-bytes",), ("GTE_MAX_UPLOAD_BYTES",), int,
     "size of an uploaded file (default 10 MiB)"),
    ("max_body_bytes", ("--max-body-bytes",), ("GTE_MAX_BODY_BYTES",), int,
     "size of an HTTP request body (default 32 MiB)"),
    ("batch_wait_ms", ("--batch-wait-ms",), ("GTE_BATCH_WAIT_MS",), float,
     "how long the dynamic batcher waits to gather concurrent requests (default 5 ms)"),
    ("max_queue", ("--max-queue",), ("GTE_MAX_QUEUE",), int,
     "texts waiting for the model before new requests are refused with 429 (default 1024)"),
    ("concurrency", ("--concurrency",), ("GTE_CONCURRENCY",), int,
     "requests the UI queue runs at once per event; they share the batcher (default 8)"),
    ("verdict_high", ("--verdict-high",), ("GTE_VERDICT_HIGH",), float,
     "cosine above which a pair is 高度相似 highly similar (default: calibrated for the model, else 0.75)"),
    ("verdict_mid", ("--verdict-mid",), ("GTE_VERDICT_MID",), float,
     "cosine above which a pair is 中等相似 moderately similar (default: calibrated, else 0.50)"),
    ("long_text", ("--long-text",), ("GTE_LONG_TEXT",), str,
     "texts over max-length: truncate (default) or chunk (sliding windows, averaged)"),
    ("auth", ("--auth",), ("GTE_AUTH",), str, "user:pass login for the web UI (default: none)"),
    ("allow_calibration", ("--allow-calibration",), ("GTE_ALLOW_CALIBRATION",), _bool,
     "let the Evaluate tab save calibrated verdict bands, which changes every user's verdicts and "
     "writes to disk (always allowed with --auth; default: off)"),
    ("allow_index_build", ("--allow-index-build",), ("GTE_ALLOW_INDEX_BUILD",), _bool,
     "let the Search tab build corpus indexes from uploads, which stay in --index-dir until deleted "
     "(always allowed with --auth; default: off; `gte-ui index build` needs no flag)"),
    ("api_key", ("--api-key",), ("GTE_API_KEY",), str, "Bearer token required by the REST routes"),
    ("cors_origins", ("--cors-origins",), ("GTE_CORS_ORIGINS",), _csv,
     "comma-separated origins allowed by CORS, on the REST routes and Gradio's alike (default: same origin only)"),
    ("allowed_hosts", ("--allowed-hosts",), ("GTE_ALLOWED_HOSTS",), _csv,
     "comma-separated Host names the server answers to, e.g. gte.example.org,*.internal; other Host "
     "or X-Forwarded-Host headers get 400 (DNS rebinding) (default: any)"),
    ("max_upload_client_bytes", ("--max-upload-client-bytes",), ("GTE_MAX_UPLOAD_CLIENT_BYTES",), _size,
     "bytes one client (IP address) may upload through the page per hour, then 429 (default 100M)"),
    ("max_uploads_per_minute", ("--max-uploads-per-minute",), ("GTE_MAX_UPLOADS_PER_MINUTE",), int,
     "uploads one client may start per minute, then 429 (default 30)"),
    ("max_upload_total_bytes", ("--max-upload-total-bytes",), ("GTE_MAX_UPLOAD_TOTAL_BYTES",), _size,
     "size of Gradio's upload/cache folder (uploads and downloads, swept hourly) beyond which uploads "
     "get 507 (default 2G)"),
    ("max_header_bytes", ("--max-header-bytes",), ("GTE_MAX_HEADER_BYTES",), _size,
     "request line + headers of one request, else the connection is refused (default 64K)"),
    ("max_connections", ("--max-connections",), ("GTE_MAX_CONNECTIONS",), int,
     "open connections and in-flight requests before new ones get 503 (default 1000)"),
    ("log_level", ("--log-level",), ("GTE_LOG_LEVEL",), str, "how much the server logs"),
    ("cache_url", ("--cache-url",), ("GTE_CACHE_URL",), str,
     "shared Redis cache tier behind the in-process LRU: redis://[:password@]host:port/db or rediss://… "
     "(default: none; see docs/scale.md)"),
    ("cache_ttl", ("--cache-ttl",), ("GTE_CACHE_TTL",), int,
     "seconds a vector lives in the shared cache, 0 for no expiry (default 604800, a week)"),
    ("cache_timeout_ms", ("--cache-timeout-ms",), ("GTE_CACHE_TIMEOUT_MS",), float,
     "Redis connect/read timeout; a slower Redis is bypassed and retried later (default 250)"),
    ("cache_secret", ("--cache-secret",), ("GTE_CACHE_SECRET",), str,
     "sign shared-cache entries with this key (HMAC-SHA256); entries without a valid signature are "
     "misses, so a writer without the key cannot plant vectors (default: none, entries are still "
     "checked for their key, width, finite values and unit norm)"),
    ("metrics_open", ("--metrics-open",), ("GTE_METRICS_OPEN",), _bool,
     "serve Prometheus /metrics without the --api-key (default: behind it like the other routes)"),
    ("shutdown_timeout", ("--shutdown-timeout",), ("GTE_SHUTDOWN_TIMEOUT",), float,
     "seconds SIGTERM waits for in-flight requests to finish before exiting (default 30)"),
    ("replicas", ("--replicas",), ("GTE_REPLICAS",), int,
     "serve through Ray Serve with this many embedder replicas (default: one plain process)"),
    ("min_replicas", ("--min-replicas",), ("GTE_MIN_REPLICAS",), int,
     "Ray Serve autoscaling: fewest replicas (with --max-replicas)"),
    ("max_replicas", ("--max-replicas",), ("GTE_MAX_REPLICAS",), int,
     "Ray Serve autoscaling: most replicas (with --min-replicas)"),
    ("ray_address", ("--ray-address",), ("GTE_RAY_ADDRESS", "RAY_ADDRESS"), str,
     "join this Ray cluster, e.g. ray://head:10001 or auto (default: start a local Ray)"),
]


def program_name(default: str = "app.py") -> str:
    """What the user typed to start us: ``gte-ui`` (the console script), ``python -m gte_ui``, else
    ``default`` — the name usage lines and messages show."""
    started = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    if started == "gte-ui":
        return "gte-ui"
    if started == "__main__.py":
        return "python -m gte_ui"
    return default


class _OneModel(argparse.Action):
    """``--model`` given twice: refused (argparse would keep the last one without a word)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        first = getattr(namespace, self.dest)
        if first is not None:
            raise ConfigError(f"--model is given twice ({first!r}, {values!r}); it names the one default model: "
                              f"serve more beside it with --models, e.g. --model {first} --models {values}",
                              f"--model 只能给一次（{first!r}、{values!r}）；更多模型请用 --models")
        setattr(namespace, self.dest, values)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The server's flags. Choices show as ``{a,b}`` but are checked by :func:`validate` (a
    bilingual :class:`ConfigError`, as for env values); defaults come from :class:`Settings`.
    ``prog``: the usage line's name (default: how the server was started, ``… serve`` or app.py)."""
    if prog is None:
        prog = program_name() + ("" if program_name() == "app.py" else " serve")
    parser = argparse.ArgumentParser(
        prog=prog,
        description="GTE similarity workbench: Gradio UI + HTTP API for GTE sentence embeddings. "
        "Every flag also reads the environment variable named in its help.",
    )
    defaults = Settings()
    for name, flags, envs, typ, help_text in _OPTIONS:
        default = getattr(defaults, name)
        # The table's own wording wins ("default: the model's own limit"); else the real value.
        if "default" not in help_text and default not in (None, (), False):
            help_text += f" (default: {default})"
        env_note = " [env: " + ", ".join(envs) + "]"
        if typ is _bool:
            parser.add_argument(*flags, dest=name, action="store_const", const=True,
                                default=None, help=help_text + env_note)
        else:
            metavar = "{" + ",".join(CHOICES[name]) + "}" if name in CHOICES else None
            parser.add_argument(*flags, dest=name, type=typ if typ is not _csv else str,
                                default=None, metavar=metavar, help=help_text + env_note,
                                **({"action": _OneModel} if name == "model" else {}))
    return parser


#: the server flags each command-line subcommand's --help lists (it takes every one of them after the command)
MODEL_FLAGS = ("model", "models", "offline", "precision", "device")


def model_flags_epilog(prog: str, extra: Sequence[str] = ()) -> str:
    """The "model options" section of a subcommand's --help: :data:`MODEL_FLAGS` and ``extra``."""
    head = (f"model options (after the command; every flag of `{prog} serve --help` works here, e.g. "
            "--max-length, --threads, --long-text; all of them: docs/settings.md):")
    return "\n".join([*textwrap.wrap(head, 100), options_help([*MODEL_FLAGS, *extra])])


def options_help(names: Sequence[str], width: int = 100) -> str:
    """``names``' flags and help from the one table, laid out like argparse's, for the command
    line's subcommands (which take every server flag after the command)."""
    by_name = {row[0]: row for row in _OPTIONS}
    lines = []
    for name in names:
        _, flags, envs, typ, help_text = by_name[name]
        metavar = "" if typ is _bool else " " + ("{" + ",".join(CHOICES[name]) + "}" if name in CHOICES
                                                 else name.upper())
        lines.append("  " + ", ".join(flags) + metavar)
        lines += textwrap.wrap(f"{help_text} [env: {', '.join(envs)}]", width,
                               initial_indent=" " * 8, subsequent_indent=" " * 8)
    return "\n".join(lines)


def parse_settings(argv: Sequence[str] | None = None,
                   env: Mapping[str, str] | None = None, prog: str | None = None) -> Settings:
    """Build :class:`Settings` from CLI arguments and the environment.

    ``--model`` (or ``GTE_MODEL``) reads ``[NAME=]SOURCE[@PRECISION]`` with the ``--models``
    parser: NAME becomes ``model_name``, @PRECISION is ``--precision``. ``prog``: the usage
    line's name (see :func:`build_parser`).

    Raises:
        ConfigError: an env value that does not parse, a value out of range, ``--model`` twice,
            or @PRECISION against another ``--precision``.
    """
    env = dict(os.environ if env is None else env)
    args = build_parser(prog).parse_args(list(argv) if argv is not None else None)
    values: dict[str, Any] = {}
    for name, flags, envs, typ, _ in _OPTIONS:
        cli_value = getattr(args, name)
        if cli_value is not None:
            values[name] = _csv(cli_value) if typ is _csv else cli_value
            continue
        for var in envs:
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                values[name] = typ(raw)
            except ValueError as exc:
                raise ConfigError(f"environment variable {var}={raw!r} is invalid: {exc}",
                                  f"环境变量 {var}={raw!r} 无效") from exc
            break
    if on_spaces(env):
        values["spaces"] = True
        values.setdefault("host", "0.0.0.0")
        # The Hugging Face twin of the default: README's preload_from_hub puts it in the Space's
        # image at build time (ModelScope is far from Spaces' servers).
        values.setdefault("model", KNOWN_MODELS[DEFAULT_MODEL])
    if "model" in values:
        spec = parse_model_spec(values["model"], "--model")
        values["model"], values["model_name"] = spec.source, spec.name
        if spec.precision is not None:
            if values.get("precision") not in (None, spec.precision):
                raise ConfigError(f"--model {spec.source}@{spec.precision} and --precision {values['precision']} "
                                  "disagree; give the precision once",
                                  f"--model 的 @{spec.precision} 与 --precision {values['precision']} 不一致")
            values["precision"] = spec.precision
    return validate(Settings(**values))


def validate(s: Settings) -> Settings:
    """Check ranges and choices; raise :class:`ConfigError` naming the valid values."""

    def choice(name: str, value: str, allowed: Sequence[str]) -> None:
        if value not in allowed:
            raise ConfigError(
                f"--{name.replace('_', '-')} {value!r} is not valid; choose one of: {', '.join(allowed)}",
                f"--{name.replace('_', '-')} 取值 {value!r} 无效，可选：{', '.join(allowed)}")

    for name, allowed in CHOICES.items():
        choice(name, getattr(s, name), allowed)
    if s.int8_engine == "openvino":
        check_openvino_mode(s.int8_mode)
    if s.reranker_precision is not None:
        choice("reranker_precision", s.reranker_precision, PRECISIONS)

    positives = ["hnsw_m", "hnsw_ef_search", "batch_size", "max_chars", "max_texts", "max_candidates", "max_matrix", "map_max_points",
                 "max_upload_bytes", "max_body_bytes", "max_queue", "concurrency", "max_upload_client_bytes",
                 "max_uploads_per_minute", "max_upload_total_bytes", "max_header_bytes", "max_connections",
                 "max_tokens_per_request"]
    for name in positives:
        if getattr(s, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(s, name)}",
                              f"--{name.replace('_', '-')} 必须至少为 1")
    if s.max_batch_tokens is not None and s.max_batch_tokens < 1:
        raise ConfigError(f"--max-batch-tokens must be at least 1, got {s.max_batch_tokens}",
                          "--max-batch-tokens 必须至少为 1")
    if s.max_length is not None and s.max_length < 2:
        raise ConfigError(f"--max-length must be at least 2 (room for [CLS] and [SEP]), got {s.max_length}",
                          "--max-length 至少为 2")
    if s.reranker_max_length is not None and s.reranker_max_length < 4:
        raise ConfigError("--reranker-max-length must be at least 4 (room for the special tokens of a "
                          f"query + document pair), got {s.reranker_max_length}", "--reranker-max-length 至少为 4")
    if s.cache_size < 0 or s.cache_bytes < 0:
        raise ConfigError("--cache-size and --cache-bytes cannot be negative", "缓存大小不能为负数")
    if s.batch_wait_ms < 0:
        raise ConfigError("--batch-wait-ms cannot be negative", "--batch-wait-ms 不能为负数")
    if s.threads is not None and s.threads < 1:
        raise ConfigError("--threads must be at least 1", "--threads 至少为 1")
    if not 0 < s.port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {s.port}", "端口必须在 1–65535 之间")
    if s.grpc_port is not None and (not 0 < s.grpc_port < 65536 or s.grpc_port == s.port):
        raise ConfigError(f"--grpc-port must be between 1 and 65535 and differ from --port, got {s.grpc_port}",
                          "--grpc-port 必须在 1–65535 之间且不同于 --port")
    if s.grpc_port is not None and (s.replicas is not None or s.min_replicas is not None):
        raise ConfigError("--grpc-port is not served under --replicas (Ray Serve's gRPC proxy cannot carry "
                          "TEI's streaming RPCs, health and reflection): run plain --grpc-port processes behind a "
                          "gRPC load balancer instead (docs/scale.md, gRPC)",
                          "--replicas 模式下不提供 --grpc-port：请运行多个普通进程并在前面放 gRPC 负载均衡（见 docs/scale.md）")
    for name in ("verdict_high", "verdict_mid"):
        v = getattr(s, name)
        if v is not None and not -1.0 <= v <= 1.0:
            raise ConfigError(f"--{name.replace('_', '-')} is a cosine and must lie in [-1, 1], got {v}",
                              f"--{name.replace('_', '-')} 是余弦值，必须在 [-1, 1] 之间")
    if s.verdict_high is not None and s.verdict_mid is not None and s.verdict_mid >= s.verdict_high:
        raise ConfigError(f"--verdict-mid ({s.verdict_mid}) must be below --verdict-high ({s.verdict_high})",
                          "--verdict-mid 必须小于 --verdict-high")
    for spec in s.models:
        parse_model_spec(spec)
    if s.max_memory is not None and s.max_memory < 1:
        raise ConfigError("--max-memory must be a positive size such as 6G", "--max-memory 必须为正数，例如 6G")
    if not 0.0 <= s.unknown_warn <= 1.0:
        raise ConfigError(f"--unknown-warn is a share in [0, 1], got {s.unknown_warn}", "--unknown-warn 必须在 0 到 1 之间")
    if s.cache_url is not None:
        if s.cache_url.split("://", 1)[0] not in ("redis", "rediss", "unix") or "://" not in s.cache_url:
            raise ConfigError("--cache-url must look like redis://[:password@]host:port/db, "
                              "rediss://… or unix:///path/redis.sock",
                              "--cache-url 格式应为 redis://[:密码@]主机:端口/库号")
    if s.cache_ttl < 0:
        raise ConfigError("--cache-ttl cannot be negative (0 means no expiry)", "--cache-ttl 不能为负数")
    if s.cache_timeout_ms <= 0 or s.shutdown_timeout < 0:
        raise ConfigError("--cache-timeout-ms must be positive and --shutdown-timeout not negative",
                          "--cache-timeout-ms 必须为正数，--shutdown-timeout 不能为负数")
    for name in ("replicas", "min_replicas", "max_replicas"):
        if getattr(s, name) is not None and getattr(s, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(s, name)}",
                              f"--{name.replace('_', '-')} 至少为 1")
    if (s.min_replicas is None) != (s.max_replicas is None):
        raise ConfigError("--min-replicas and --max-replicas go together", "--min-replicas 与 --max-replicas 需同时设置")
    if s.min_replicas is not None and s.max_replicas is not None and s.min_replicas > s.max_replicas:
        raise ConfigError(f"--min-replicas ({s.min_replicas}) is above --max-replicas ({s.max_replicas})",
                          "--min-replicas 不能大于 --max-replicas")
    if s.auth is not None and (":" not in s.auth or not s.auth.split(":", 1)[0] or not s.auth.split(":", 1)[1]):
        raise ConfigError("--auth must look like user:password", "--auth 格式应为 用户名:密码")
    return s
