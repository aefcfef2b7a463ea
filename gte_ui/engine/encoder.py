"""The embedding pipeline: tokenise -> backend forward -> pool -> L2-normalise, length-sorted.

:class:`Encoder` owns one tokenizer and one :class:`~gte_ui.engine.backends.registry.Backend`. It is loaded once
at startup and shared by every request; ``encode`` is thread-safe (one forward pass at a time,
which is also the fastest way to use the cores). Caching and request batching live above it,
in :mod:`gte_ui.service.embed` and :mod:`gte_ui.service.registry`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.core.scoring import normalize_rows
from gte_ui.core.settings import DEFAULT_MAX_BATCH_TOKENS, Settings
from gte_ui.engine.backends.registry import Backend, load_backend, resolve_runtime
from gte_ui.engine.models.families import check_remote_code, read_traits
from gte_ui.engine.models.hub import looks_like_path, model_fingerprint, resolve_model, transformer_folder
from gte_ui.engine.pooling import PoolingMode, pad_batch, pool, read_pooling_mode
from gte_ui.engine.prompts import Prompts, read_prompts
from gte_ui.engine.tokenizer import UnknownTokens, head_token_ids, load_tokenizer

log = logging.getLogger(__name__)


class PublicFacts:
    """What a loaded model's facts show: everything to the operator, no path to clients."""

    def as_dict(self) -> dict[str, object]:
        """Every fact, the path included: for logs and the operator, never for clients."""
        return dict(self.__dict__)

    def public_dict(self) -> dict[str, object]:
        """The facts a client may see (``/health``, the UI): ``model`` is :attr:`name`, no path."""
        facts = {k: v for k, v in self.__dict__.items() if k not in ("path", "name")}
        facts["model"] = self.name
        return facts


@dataclass(frozen=True)
class ModelInfo(PublicFacts):
    """Facts about the loaded model, shown on the About tab and by ``/health``."""

    model: str  # what the user asked for (id or folder)
    path: str  # the local folder it was loaded from
    dim: int
    max_length: int
    pooling: str
    device: str
    precision: str
    backend: str
    load_seconds: float
    decoder: bool = False  # a causal decoder (Qwen2/Qwen3): last-token pooling, padding side of its tokenizer
    #: the model's instruction prompts (``Prompts.as_dict``); empty when it has none
    prompts: dict = field(default_factory=dict)
    #: smallest output dimension the model was trained for (Matryoshka); None: not trained for it
    min_dimensions: int | None = None
    #: why the backend is not the plain choice (int8 of a decoder runs in eager PyTorch, …)
    backend_note: str = ""
    #: what clients are shown: the id, or only the folder's name for a local folder. The server's
    #: filesystem layout is none of a client's business; the full path stays in the logs.
    name: str = "?"
    fingerprint: str = ""  # content hash of the model folder (hub.model_fingerprint)



def public_model_name(model: str) -> str:
    """A hub id as is; a local folder as its last component (``/srv/models/gte-large-zh`` ->
    ``gte-large-zh``), so no answer reveals where the server keeps its files."""
    if looks_like_path(model):
        return Path(model.rstrip("/\\")).expanduser().name or "model"
    return model


@dataclass
class Encoded:
    """Vectors for a list of texts, in input order.

    Attributes:
        vectors: float32 [n, dim], each row L2-normalised.
        token_counts: tokens each text has (with [CLS]/[SEP]) before truncation.
        truncated: whether each text was cut at ``max_length``.
        chunks: windows each text was embedded in (1 unless long-text chunking is on).
    """

    vectors: np.ndarray
    token_counts: list[int]
    truncated: list[bool]
    chunks: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.chunks:
            self.chunks = [1] * len(self.token_counts)


@dataclass(frozen=True, eq=False)
class Tokenized:
    """A text tokenised once, by :meth:`Encoder.tokenize_once`: what :meth:`Encoder.encode` runs
    without tokenising it again, and what the service inspects (unknown tokens) and weighs (the
    work budget) from the same pass. Equal (and hashed) by its text, as the text would be."""

    text: str
    ids: list[int]  # special tokens included, truncated at max_length
    count: int  # tokens before truncation (estimated above max_length: see Encoder.tokenize)
    truncated: bool
    unknown: UnknownTokens | None  # over the tokens the model reads; None for a slow tokenizer

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenized) and other.text == self.text

    def __hash__(self) -> int:
        return hash((Tokenized, self.text))


@dataclass(frozen=True)
class Windows:
    """A text :meth:`Encoder.encode` embeds whole, in sliding windows (``long_text="chunk"``):
    how a chunked text travels through the dynamic batcher beside truncated ones."""

    text: str


class Encoder:
    """Tokenise, run the backend in length-sorted micro-batches, pool and normalise."""

    def __init__(self, tokenizer, backend: Backend, *, pooling: PoolingMode, max_length: int,
                 batch_size: int = 32, max_batch_tokens: int | None = None,
                 info: ModelInfo | None = None, prompts: Prompts | None = None) -> None:
        if backend.first_token_only and pooling != "cls":
            raise ValueError(f"{pooling} pooling needs every token's state; this backend keeps only the first")
        self.tokenizer = tokenizer
        self.backend = backend
        self.pooling: PoolingMode = pooling
        self.max_length = max_length
        self.batch_size = batch_size
        #: padded tokens (rows x width) a forward pass may hold; None: ``batch_size`` alone decides
        self.max_batch_tokens = max_batch_tokens
        self.info = info or ModelInfo(model="?", path="?", name="?", dim=backend.dim, max_length=max_length,
                                      pooling=pooling, device=backend.device,
                                      precision=backend.precision, backend=backend.name,
                                      load_seconds=0.0)
        self._lock = TurnLock()
        #: forward passes run so far (tests use it to prove that batching happened)
        self.forward_calls = 0
        #: texts embedded so far (cache misses only)
        self.texts_encoded = 0
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        # decoders (Qwen3-Embedding) pad on the left; last-token pooling is right either way
        self.pad_left = getattr(tokenizer, "padding_side", "right") == "left"
        self.prompts = prompts or Prompts()
        self._frame: tuple[list[int], list[int]] | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, settings: Settings, folder: Path | None = None) -> Encoder:
        """Resolve the model (unless the caller passes its resolved ``folder``), choose
        device/precision, load tokenizer and backend.

        Raises:
            ModelNotFoundError: the model cannot be found or fetched.
            ConfigError: settings that cannot run here (e.g. cuda without a GPU).
        """
        t0 = time.perf_counter()
        device, precision = resolve_runtime(settings.device, settings.precision,
                                            spaces=settings.spaces)
        if settings.threads:
            torch.set_num_threads(settings.threads)
        folder = folder or resolve_model(settings.model, hub=settings.hub, revision=settings.revision,
                                         offline=settings.offline, cache_dir=settings.model_cache_dir)
        inner = transformer_folder(folder)
        pooling = read_pooling_mode(folder)
        traits = read_traits(inner, settings.model, pooling)
        check_remote_code(traits, settings.trust_remote_code)
        if traits.decoder and pooling == "cls" and not (folder / "modules.json").is_file():
            pooling = "lasttoken"  # a decoder folder without sentence-transformers files
        tokenizer = load_tokenizer(inner if (inner / "config.json").is_file() else folder,
                                   trust_remote_code=settings.trust_remote_code)
        prompts = read_prompts(folder)
        # CLS pooling reads only the first token: its last layer need not compute the others
        backend = load_backend(inner, device, precision, settings.int8_mode, settings.int8_engine,
                               settings.threads, settings.export_cache,
                               first_token_only=pooling == "cls" and not traits.decoder, tokenizer=tokenizer,
                               trust_remote_code=settings.trust_remote_code, decoder=traits.decoder,
                               remote_code=traits.remote_code is not None)
        model_limit = model_max_length(folder, tokenizer)
        max_length = settings.max_length or model_limit
        if max_length > model_limit:
            raise ConfigError(
                f"--max-length {max_length} is above this model's limit of {model_limit} tokens",
                f"--max-length {max_length} 超过模型上限 {model_limit}")
        # the default budget grows to hold one text at the model's limit (decoders read 8k+ tokens);
        # a budget the user set below it is refused, since it could not run such a text
        budget = settings.max_batch_tokens or max(DEFAULT_MAX_BATCH_TOKENS, max_length)
        if budget < max_length:
            raise ConfigError(
                f"--max-batch-tokens {settings.max_batch_tokens} is below --max-length {max_length}: "
                "one text at the limit would not fit a forward pass; raise it to at least "
                f"{max_length} or lower --max-length",
                f"--max-batch-tokens {settings.max_batch_tokens} 小于 --max-length {max_length}，"
                "请调大它或调小 --max-length")
        info = ModelInfo(model=settings.model, path=str(folder), dim=backend.dim,
                         max_length=max_length, pooling=pooling, device=device, precision=precision,
                         backend=backend.name, load_seconds=round(time.perf_counter() - t0, 3),
                         decoder=traits.decoder, prompts=prompts.as_dict() if prompts.available else {},
                         min_dimensions=traits.min_dimensions, backend_note=backend.note,
                         name=settings.model_name or public_model_name(settings.model),
                         fingerprint=model_fingerprint(folder))
        log.info("model ready: %s", info)
        return cls(tokenizer, backend, pooling=pooling, max_length=max_length,
                   batch_size=settings.batch_size, max_batch_tokens=budget, info=info,
                   prompts=prompts)

    @property
    def dim(self) -> int:
        return self.backend.dim

    # --------------------------------------------------------------- tokenising
    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int], list[bool]]:
        """Token ids truncated at ``max_length``, token counts before truncation, truncation flags.

        Only a head of each text is tokenised (:func:`~gte_ui.engine.tokenizer.cut_head`): the
        model reads ``max_length`` tokens, and tokenising 20,000 characters to use 512 tokens of
        them cost seconds per request and hundreds of MB. The ids are exactly those of the whole
        text; a text longer than its head gets its count estimated from its characters (the head's
        tokens per character), so ``truncated`` is exact and ``tokens`` is an estimate only above
        ``max_length``.
        """
        head, tail = self.special_frame()
        room = self.max_length - len(head) - len(tail)  # content tokens the model reads
        bodies, counts = head_token_ids(self.tokenizer, texts, room)
        ids = [head + body + tail for body in bodies]
        truncated = [n > room for n in counts]
        counts = [n + len(head) + len(tail) for n in counts]
        return ids, counts, truncated

    def tokenize_once(self, texts: Sequence[str]) -> list[Tokenized]:
        """:meth:`tokenize` of ``texts`` with each text's unknown tokens read off the same pass:
        everything a request needs of its texts' tokens (encoding, the budget, inspection)."""
        head, tail = self.special_frame()
        room = self.max_length - len(head) - len(tail)
        unknown: list[UnknownTokens] | None = [] if getattr(self.tokenizer, "is_fast", False) else None
        bodies, counts = head_token_ids(self.tokenizer, texts, room, unknown=unknown)
        return [Tokenized(text, head + body + tail, n + len(head) + len(tail), n > room,
                          unknown[i] if unknown is not None else None)
                for i, (text, body, n) in enumerate(zip(texts, bodies, counts))]

    @property
    def room(self) -> int:
        """Content tokens the model reads of a text: ``max_length`` less the special tokens."""
        head, tail = self.special_frame()
        return self.max_length - len(head) - len(tail)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.tokenize(texts)[1]

    def run_weights(self, texts: Sequence[str | Tokenized | Windows]) -> list[int]:
        """A bound on the tokens the model runs for each text, without tokenising: its characters
        plus the special tokens, at most ``max_length`` (a WordPiece token spans at least one
        character); a tokenised text's own ids; a chunked text's characters plus a frame per
        window, uncapped. What the dynamic batcher slices and interleaves requests by."""
        head, tail = self.special_frame()
        frame = len(head) + len(tail)
        step = max(1, (self.max_length - frame) * 3 // 4)
        return [len(t.ids) if isinstance(t, Tokenized)
                else len(t.text) + frame * -(-len(t.text) // step) if isinstance(t, Windows)
                else min(len(t) + frame, self.max_length) for t in texts]

    def tokens_to_run(self, texts: Sequence[str], *, chunked: bool = False, overlap: float = 0.25,
                      max_chunks: int = 128) -> int:
        """Tokens the model will run for ``texts``: each truncated at ``max_length``, or with
        ``chunked`` every window :meth:`encode_chunked` would run (from the estimated counts of
        :meth:`tokenize`, so a request can be weighed before its long texts are tokenised whole)."""
        if not texts:
            return 0
        ids, counts, _ = self.tokenize(texts)
        if not chunked:
            return sum(len(x) for x in ids)
        return self.window_tokens(counts, overlap=overlap, max_chunks=max_chunks)

    def window_tokens(self, counts: Sequence[int], *, overlap: float = 0.25, max_chunks: int = 128) -> int:
        """Tokens :meth:`encode_chunked` runs for texts of ``counts`` tokens (special tokens
        included, as :meth:`tokenize` counts them): every window of each, at most ``max_chunks``."""
        head, tail = self.special_frame()
        frame = len(head) + len(tail)
        width = self.max_length - frame
        step = max(1, int(width * (1 - overlap)))
        total = 0
        for n in counts:
            body = n - frame
            windows = 1 if body <= width else min(max_chunks, len(range(0, body - width + step, step)))
            total += n if windows == 1 else windows * self.max_length
        return total

    # ----------------------------------------------------------------- encoding
    def encode(self, texts: Sequence[str | Tokenized | Windows]) -> Encoded:
        """Embed ``texts``: float32 [n, dim], L2-normalised, in input order.

        Texts are sorted by length and run in micro-batches of at most ``batch_size`` texts and
        ``max_batch_tokens`` padded tokens (:func:`plan_batches`), so that padding stays small
        and memory stays bounded whatever the texts' lengths. A :class:`Tokenized` text runs its
        ids as they are (tokenised once, by the caller); a :class:`Windows` one is embedded whole
        (:meth:`encode_chunked`).
        """
        texts = list(texts)
        if not texts:
            return Encoded(np.zeros((0, self.dim), np.float32), [], [])
        if all(isinstance(t, str) for t in texts):
            ids, counts, truncated = self.tokenize(texts)
            return Encoded(self.encode_ids(ids), counts, truncated)
        plain = [i for i, t in enumerate(texts) if isinstance(t, str)]
        made = dict(zip(plain, zip(*self.tokenize([texts[i] for i in plain])))) if plain else {}
        rows: dict[int, tuple[list[int], int, bool]] = {
            i: (t.ids, t.count, t.truncated) if isinstance(t, Tokenized) else made[i]
            for i, t in enumerate(texts) if not isinstance(t, Windows)}
        out = Encoded(np.zeros((len(texts), self.dim), np.float32), [0] * len(texts), [False] * len(texts))
        if rows:
            order = list(rows)
            out.vectors[order] = self.encode_ids([rows[i][0] for i in order])
            for i in order:
                out.token_counts[i], out.truncated[i] = rows[i][1], rows[i][2]
        windowed = [i for i, t in enumerate(texts) if isinstance(t, Windows)]
        if windowed:
            enc = self.encode_chunked([texts[i].text for i in windowed])
            out.vectors[windowed] = enc.vectors
            for k, i in enumerate(windowed):
                out.token_counts[i], out.truncated[i], out.chunks[i] = enc.token_counts[k], enc.truncated[k], enc.chunks[k]
        return out

    def encode_chunked(self, texts: Sequence[str], overlap: float = 0.25, max_chunks: int = 128) -> Encoded:
        """Embed texts longer than ``max_length`` whole: sliding windows with ``overlap``, window
        vectors averaged weighted by their token counts, then L2-normalised.

        Short texts take one window and get exactly their ``encode`` vector. All windows of all
        texts go through the same length-sorted micro-batches, so memory stays bounded. A text
        needing more than ``max_chunks`` windows uses the first ``max_chunks`` and is flagged
        truncated.
        """
        texts = list(texts)
        if not texts:
            return Encoded(np.zeros((0, self.dim), np.float32), [], [])
        tok = self.tokenizer
        body = tok(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        head, tail = self.special_frame()
        width = self.max_length - len(head) - len(tail)  # room for [CLS]/[SEP], <|endoftext|>, …
        step = max(1, int(width * (1 - overlap)))
        windows: list[list[int]] = []
        owner: list[int] = []
        counts, truncated, chunks = [], [], []
        for i, ids in enumerate(body):
            starts = list(range(0, max(1, len(ids) - width + step), step)) if len(ids) > width else [0]
            cut = len(starts) > max_chunks
            starts = starts[:max_chunks]
            for start in starts:
                windows.append(self._wrap(list(ids[start:start + width])))
                owner.append(i)
            counts.append(len(ids) + len(head) + len(tail))
            truncated.append(cut)
            chunks.append(len(starts))
        vectors = self.encode_ids(windows)
        weights = np.array([len(w) - len(head) - len(tail) for w in windows], dtype=np.float32).clip(min=1)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        np.add.at(out, np.array(owner), vectors * weights[:, None])
        return Encoded(normalize_rows(out), counts, truncated, chunks)

    def special_frame(self) -> tuple[list[int], list[int]]:
        """The ids the tokenizer puts before and after a text: [CLS] … [SEP] for BERT, <s> … </s>
        for RoBERTa, nothing … <|endoftext|> for Qwen3-Embedding (read off the tokenizer itself)."""
        if self._frame is None:
            probe = "a"
            body = self.tokenizer(probe, add_special_tokens=False)["input_ids"]
            full = self.tokenizer(probe, add_special_tokens=True)["input_ids"]
            at = next((i for i in range(len(full) - len(body) + 1) if full[i:i + len(body)] == body), 0)
            self._frame = (list(full[:at]), list(full[at + len(body):]))
        return self._frame

    def _wrap(self, ids: list[int]) -> list[int]:
        """Add the model's start/end tokens around a window of text ids."""
        head, tail = self.special_frame()
        return head + ids + tail

    def encode_ids(self, ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Embed already tokenised (and truncated) texts: float32 [n, dim] in input order."""
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        for chunk in plan_batches([len(x) for x in ids], self.batch_size, self.max_batch_tokens):
            # one forward pass at a time, taken in turn: a long chunked request in one thread and
            # the batcher's calls in another interleave pass by pass instead of one waiting for all
            with self._lock:
                out[chunk] = self._forward([ids[i] for i in chunk])
        with self._lock:
            self.texts_encoded += len(ids)
        return out

    def _forward(self, batch: list[Sequence[int]]) -> np.ndarray:
        input_ids, mask = pad_batch(batch, self._pad_id, self.pad_left)
        width = input_ids.shape[1]
        try:
            with torch.inference_mode():
                hidden = self.backend.forward(input_ids, mask)
                pooled = pool(hidden, mask.to(hidden.device), self.pooling)
                # never keep embeddings on the GPU; normalise in fp32 with the package's one L2 norm
                result = normalize_rows(pooled.float().cpu().numpy())
        except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - GPU only
            torch.cuda.empty_cache()
            raise GteError(ErrorType.OVERLOADED,
                           f"GPU out of memory for a batch of {len(batch)} x {width} tokens; "
                           "retry with fewer or shorter texts, or lower --batch-size",
                           "GPU 显存不足，请减少文本数量或长度") from exc
        self.forward_calls += 1
        return result


class TurnLock:
    """A lock granted in the order it was asked for (``threading.Lock`` lets the thread that just
    released it take it again at once, so a loop of forward passes would shut others out)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._issued = 0  # tickets handed out
        self._serving = 0  # the ticket that holds the lock

    def __enter__(self) -> None:
        with self._cond:
            ticket = self._issued
            self._issued += 1
            while ticket != self._serving:
                self._cond.wait()

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._serving += 1
            self._cond.notify_all()


def plan_batches(lengths: Sequence[int], max_texts: int, max_tokens: int | None = None) -> list[np.ndarray]:
    """Micro-batches over texts of ``lengths`` tokens: indices, longest texts first.

    Each batch holds at most ``max_texts`` texts and at most ``max_tokens`` padded tokens (its
    row count times its longest text, which is its first: the order is by length, descending),
    as TEI's ``--max-batch-tokens`` does. A text longer than ``max_tokens`` runs alone.
    """
    order = np.argsort([-n for n in lengths], kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        width = max(1, lengths[order[start]])
        rows = max_texts if max_tokens is None else max(1, min(max_texts, max_tokens // width))
        batches.append(order[start:start + rows])
        start += rows
    return batches


def model_max_length(folder: Path, tokenizer) -> int:
    """The model's own token limit: sentence-transformers' max_seq_length if the folder sets it,
    else the smaller of the tokenizer's limit and the position embeddings."""
    st_cfg = folder / "sentence_bert_config.json"
    if st_cfg.is_file():
        try:
            value = json.loads(st_cfg.read_text(encoding="utf-8")).get("max_seq_length")
            if value:
                return int(value)
        except ValueError:
            pass
    limits = [int(tokenizer.model_max_length)] if tokenizer.model_max_length < 10**6 else []
    config = transformer_folder(folder) / "config.json"
    if config.is_file():
        positions = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
        if positions:
            limits.append(int(positions))
    return min(limits) if limits else 512
