"""The rerank stage: a cross-encoder reads query and document together and gives one relevance logit.

:class:`Reranker` owns one tokenizer and one scorer. For BERT and XLM-R / RoBERTa cross-encoders
(``BAAI/bge-reranker-base``, ``iic/gte_passage-ranking_multilingual-base``…) the scorer is the
embedder's own :class:`~gte_ui.engine.backends.registry.Backend` — the same fp32 / fp16 / bf16 / int8 paths,
the int8 export included, with the last layer computing the first token only — followed by the
model's classification head in fp32 on that first token's state. Any other architecture (and
models whose code lives in their hub repo, which need ``--trust-remote-code``) runs whole as
``AutoModelForSequenceClassification`` in torch.

Pairs get exactly the ids of ``tokenizer(query, document)`` with ``longest_first`` truncation at
the reranker's own max length (what sentence-transformers' ``CrossEncoder`` feeds the model), but
only a head of each text is tokenised (:func:`~gte_ui.engine.tokenizer.head_token_ids`, the
embedder's own), so a 20,000-character document costs what its window costs. They run sorted by
length, ``batch_size`` at a time, one forward pass per turn (:class:`~gte_ui.engine.encoder.TurnLock`:
a request beside a big one waits for a pass, not for the whole request). Scores, caching, the
per-request budget and request batching live above, in :mod:`gte_ui.service.rerank` and :mod:`gte_ui.service.registry`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.core.settings import Settings
from gte_ui.engine.backends.pytorch import quantize_dynamic_int8
from gte_ui.engine.backends.registry import Backend, load_backend, resolve_runtime
from gte_ui.engine.encoder import Encoded, PublicFacts, TurnLock, model_max_length, plan_batches, public_model_name
from gte_ui.engine.models.families import check_remote_code, read_traits
from gte_ui.engine.models.hub import resolve_model, transformer_folder
from gte_ui.engine.pooling import pad_batch
from gte_ui.engine.tokenizer import head_token_ids, load_tokenizer

log = logging.getLogger(__name__)

#: model types whose classifier head this module applies on the backend's first-token state
HEADED_TYPES = ("bert", "xlm-roberta", "roberta")


@dataclass(frozen=True)
class RerankerInfo(PublicFacts):
    """Facts about the loaded reranker, shown on the About tab and by ``/health``."""

    model: str  # what the user asked for (id or folder)
    path: str
    architecture: str  # e.g. XLMRobertaForSequenceClassification
    max_length: int
    device: str
    precision: str
    backend: str
    load_seconds: float
    #: what clients are shown: the id, or only a local folder's name (never the server's path)
    name: str = "?"
    #: how the score is read: a cross-encoder's logit, or a decoder's yes-minus-no answer logit
    kind: str = "cross-encoder"
    #: decoder rerankers: the task instruction in their prompt
    instruction: str | None = None


class ClassifierHead(nn.Module):
    """A ``*ForSequenceClassification`` model's head, fed the first token's last hidden state.

    BERT: pooler (dense + tanh on [CLS]) then a Linear; XLM-R / RoBERTa: their
    ``ClassificationHead`` (dense + tanh + out_proj on ``<s>``). Dropout is off in eval mode.
    """

    def __init__(self, pooler: nn.Module | None, classifier: nn.Module) -> None:
        super().__init__()
        self.pooler = pooler
        self.classifier = classifier

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """[batch, seq >= 1, dim] -> [batch] logits (the first label's)."""
        x = self.pooler(hidden) if self.pooler is not None else hidden
        return self.classifier(x)[:, 0]


class _HeadOnBackend:
    """backend (any precision) -> first-token state -> fp32 classifier head -> logits."""

    def __init__(self, backend: Backend, head: ClassifierHead) -> None:
        self.backend = backend
        self.head = head.float().eval().to(backend.device)
        self.name = backend.name
        self.device = backend.device

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor | None) -> torch.Tensor:
        hidden = self.backend.forward(ids, mask, types)
        return self.head(hidden[:, :1].to(self.device).float())


class _WholeModel:
    """``AutoModelForSequenceClassification`` run whole (other architectures, hub-hosted code)."""

    def __init__(self, model: nn.Module, device: str, name: str) -> None:
        self.model = model
        self.device = device
        self.name = name
        self.takes_types = int(getattr(model.config, "type_vocab_size", 0) or 0) > 1

    def __call__(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor | None) -> torch.Tensor:
        extra = {"token_type_ids": types.to(self.device)} if types is not None and self.takes_types else {}
        out = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device), **extra)
        return out.logits[:, 0]


class Reranker:
    """Tokenise query-document pairs, score them in length-sorted micro-batches: raw logits."""

    def __init__(self, tokenizer, scorer, *, max_length: int, batch_size: int = 32,
                 info: RerankerInfo, token_types: bool = False) -> None:
        self.tokenizer = tokenizer
        self.scorer = scorer
        self.max_length = max_length
        self.batch_size = batch_size
        self.info = info
        self.token_types = token_types  # the model reads segment ids (BERT: the document is segment 1)
        self._lock = TurnLock()
        self._pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._frame: tuple[list[int], list[int], list[int], tuple | None] | None = None
        #: forward passes and pairs scored so far (tests and /health read these)
        self.forward_calls = 0
        self.pairs_scored = 0

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, settings: Settings, folder: Path | None = None) -> Reranker:
        """Resolve ``settings.reranker`` (unless ``folder`` is the resolved one), pick device/precision,
        load tokenizer, scorer and head.

        Raises:
            ModelNotFoundError: the model cannot be found or fetched.
            ConfigError: not a one-logit cross-encoder; code in the hub repo without
                ``--trust-remote-code``; a max length above the model's limit; an impossible
                device/precision.
        """
        # heavy: transformers takes seconds to import, so it loads with the first model, not the module
        from transformers import AutoConfig, AutoModelForSequenceClassification

        if not settings.reranker:
            raise ConfigError("no --reranker given", "未指定 --reranker")
        t0 = time.perf_counter()
        device, precision = resolve_runtime(settings.device, settings.reranker_precision or settings.precision,
                                            spaces=settings.spaces)
        folder = folder or resolve_model(settings.reranker, hub=settings.hub, offline=settings.offline,
                                         cache_dir=settings.model_cache_dir)
        inner = transformer_folder(folder)
        read_reranker_config(inner)  # an unreadable config.json gets its own message before transformers tries
        check_remote_code(read_traits(inner, settings.reranker), settings.trust_remote_code)
        config = AutoConfig.from_pretrained(str(inner), trust_remote_code=settings.trust_remote_code)
        if int(getattr(config, "num_labels", 1)) != 1:
            raise ConfigError(
                f"{settings.reranker} has {config.num_labels} outputs; a reranker (cross-encoder) gives one "
                "relevance logit. Pass a cross-encoder such as BAAI/bge-reranker-base as --reranker",
                f"{settings.reranker} 有 {config.num_labels} 个输出，重排模型应只输出一个相关性分数")
        tokenizer = load_tokenizer(inner)
        limit = model_max_length(folder, tokenizer)
        max_length = settings.reranker_max_length or limit
        if max_length > limit:
            raise ConfigError(f"--reranker-max-length {max_length} is above this reranker's limit of {limit} tokens",
                              f"--reranker-max-length {max_length} 超过重排模型上限 {limit}")
        # segment ids only where the tokenizer makes them (as CrossEncoder and pipelines feed it)
        token_types = (int(getattr(config, "type_vocab_size", 0) or 0) > 1
                       and "token_type_ids" in tokenizer.model_input_names)
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
        full = AutoModelForSequenceClassification.from_pretrained(
            str(inner), dtype=dtype, trust_remote_code=settings.trust_remote_code).eval()
        if config.model_type in HEADED_TYPES and not settings.trust_remote_code and _has_head(full):
            head = ClassifierHead(getattr(full.base_model, "pooler", None) if isinstance(full.classifier, nn.Linear)
                                  else None, full.classifier)
            del full  # the backend loads the encoder its own way (int8: from the cached export)
            backend = load_backend(inner, device, precision, settings.int8_mode, settings.int8_engine,
                                   settings.threads, settings.export_cache, first_token_only=True,
                                   tokenizer=tokenizer, token_types=token_types)
            scorer = _HeadOnBackend(backend, head)
        else:
            name = "torch"
            if precision == "int8":
                full, name = quantize_dynamic_int8(full), "torch-int8-dynamic"
            scorer = _WholeModel(full.to(device), device, name)
        info = RerankerInfo(model=settings.reranker, path=str(folder),
                            architecture=(config.architectures or [type(config).__name__])[0],
                            max_length=max_length, device=device, precision=precision, backend=scorer.name,
                            load_seconds=round(time.perf_counter() - t0, 3),
                            name=public_model_name(settings.reranker))
        log.info("reranker ready: %s", info)
        return cls(tokenizer, scorer, max_length=max_length, batch_size=settings.batch_size, info=info,
                   token_types=token_types)

    # --------------------------------------------------------------- tokenising
    def tokenize(self, pairs: Sequence[tuple[str, str]]) -> tuple[list[list[int]], list[list[int]] | None,
                                                                   list[int], list[bool]]:
        """Ids truncated at ``max_length`` (longest first, as CrossEncoder), segment ids when the
        model reads them, each pair's token count, and whether it was cut.

        The ids are the tokenizer's own pair encoding: each text's ids (the pair tokeniser encodes
        the two texts apart) from a head of it, truncated by :func:`longest_first`, inside the
        special tokens read off the tokenizer (:meth:`pair_frame`). A count past the window is
        estimated from the texts' characters, as the embedder's."""
        start, middle, end, types = self.pair_frame()
        room = self.max_length - len(start) - len(middle) - len(end)  # content tokens the model reads
        queries = list(dict.fromkeys(q for q, _ in pairs))
        q_ids, q_counts = head_token_ids(self.tokenizer, queries, room)
        query_at = {q: i for i, q in enumerate(queries)}
        d_ids, d_counts = head_token_ids(self.tokenizer, [d for _, d in pairs], room)
        ids: list[list[int]] = []
        segments: list[list[int]] | None = [] if self.token_types else None
        counts, truncated = [], []
        for (q, _), doc, n_doc in zip(pairs, d_ids, d_counts):
            query, n_query = q_ids[query_at[q]], q_counts[query_at[q]]
            keep_q, keep_d = longest_first(n_query, n_doc, room)
            ids.append(start + query[:keep_q] + middle + doc[:keep_d] + end)
            if segments is not None and types is not None:
                t_start, t_query, t_middle, t_doc, t_end = types
                segments.append(t_start + [t_query] * keep_q + t_middle + [t_doc] * keep_d + t_end)
            counts.append(n_query + n_doc + len(start) + len(middle) + len(end))
            truncated.append(n_query + n_doc > room)
        return ids, segments, counts, truncated

    def pair_frame(self) -> tuple[list[int], list[int], list[int], tuple | None]:
        """The ids the tokenizer puts before, between and after a pair's texts ([CLS] q [SEP] d
        [SEP] for BERT, <s> q </s></s> d </s> for XLM-R) and the probe pair's segment ids, read off
        the tokenizer itself with two one-token texts. Segment ids, when the model reads them:
        ``(before, query's, between, document's, after)``."""
        if self._frame is None:
            tok = self.tokenizer
            first = tok("a", add_special_tokens=False)["input_ids"]
            second = tok("b", add_special_tokens=False)["input_ids"]
            enc = tok("a", "b", return_token_type_ids=self.token_types)
            full = list(enc["input_ids"])
            at = next(i for i in range(len(full)) if full[i:i + len(first)] == first)
            after = at + len(first)
            at2 = next(i for i in range(after, len(full)) if full[i:i + len(second)] == second)
            if len(first) != 1 or len(second) != 1:
                raise ConfigError("the reranker's tokenizer splits the probe letters a / b; cannot read its pair frame",
                                  "无法读取重排模型分词器的文本对格式")
            types = None
            if self.token_types:
                t = list(enc["token_type_ids"])
                types = (t[:at], t[at], t[after:at2], t[at2], t[at2 + 1:])
            self._frame = (full[:at], full[after:at2], full[at2 + 1:], types)
        return self._frame

    def run_weights(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """A bound on the tokens the model runs for each pair, without tokenising (characters plus
        the special tokens, at most ``max_length``): what the dynamic batcher slices requests by."""
        start, middle, end, _ = self.pair_frame()
        return pair_weights(pairs, len(start) + len(middle) + len(end), self.max_length)

    def tokens_to_run(self, pairs: Sequence[tuple[str, str]]) -> int:
        """Tokens the model will run for ``pairs`` (each pair's window), from heads of the texts."""
        return sum(len(x) for x in self.tokenize(pairs)[0]) if pairs else 0

    # ----------------------------------------------------------------- scoring
    def score(self, pairs: Sequence[tuple[str, str]]) -> Encoded:
        """Raw logits of ``(query, document)`` pairs, in input order, as an :class:`Encoded` whose
        ``vectors`` are [n, 1] (so the dynamic batcher serves rerank requests as it serves texts)."""
        pairs = [(str(q), str(d)) for q, d in pairs]
        if not pairs:
            return Encoded(np.zeros((0, 1), np.float32), [], [])
        ids, types, counts, truncated = self.tokenize(pairs)
        out = np.empty((len(ids), 1), dtype=np.float32)
        for chunk in plan_batches([len(x) for x in ids], self.batch_size):
            with self._lock:  # one pass per turn: others' passes run between this request's
                out[chunk, 0] = self._forward([ids[i] for i in chunk],
                                              None if types is None else [types[i] for i in chunk])
        with self._lock:
            self.pairs_scored += len(ids)
        return Encoded(out, counts, truncated)

    def _forward(self, batch: list[Sequence[int]], types: list[Sequence[int]] | None) -> np.ndarray:
        input_ids, mask = pad_batch(batch, self._pad_id)
        type_ids = pad_batch(types, 0)[0] if types is not None else None  # segment ids, padded with 0
        try:
            with torch.inference_mode():
                logits = self.scorer(input_ids, mask, type_ids).float().cpu().numpy()
        except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - GPU only
            torch.cuda.empty_cache()
            raise GteError(ErrorType.OVERLOADED,
                           f"GPU out of memory reranking {len(batch)} pairs x {input_ids.shape[1]} tokens; send fewer or "
                           "shorter documents, or lower --batch-size", "GPU 显存不足，请减少文档数量或长度") from exc
        self.forward_calls += 1
        return logits


def longest_first(first: int, second: int, room: int) -> tuple[int, int]:
    """How many tokens of each text a pair keeps under ``longest_first`` truncation to ``room``
    content tokens: the rule of the Rust ``tokenizers`` that fast tokenizers (and so CrossEncoder)
    use, given both texts' token counts. The shorter text is kept whole when the longer can be cut
    to fit beside it; else each gets half, the odd token going to the longer one (the first on a
    tie). Counts need only be exact up to ``room`` and in their order."""
    if first + second <= room:
        return first, second
    swap = first > second
    short, long = (second, first) if swap else (first, second)
    long = short if short > room else max(short, room - short)
    if short + long > room:
        short = room // 2
        long = short + room % 2
    keep_first, keep_second = (long, short) if swap else (short, long)
    return min(first, keep_first), min(second, keep_second)


def pair_weights(pairs: Sequence[tuple[str, str]], frame: int, max_length: int) -> list[int]:
    """Each pair's characters plus ``frame`` special tokens, at most ``max_length``: a bound on its
    tokens (a token spans at least one character) that costs no tokenising."""
    return [min(len(q) + len(d) + frame, max_length) for q, d in pairs]


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """The 0–1 relevance CrossEncoder reports for one-logit models (numerically stable)."""
    x = np.asarray(logits, dtype=np.float64)
    return np.where(x >= 0, 1.0 / (1.0 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1.0 + np.exp(-np.abs(x))))


def read_reranker_config(folder: Path) -> dict:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the reranker's config.json: {exc}", "无法读取重排模型的 config.json") from exc


def _has_head(model: nn.Module) -> bool:
    classifier = getattr(model, "classifier", None)
    if isinstance(classifier, nn.Linear):  # BERT: pooler -> dropout -> Linear
        return getattr(model.base_model, "pooler", None) is not None
    return classifier is not None and hasattr(classifier, "out_proj")  # RoBERTa-style head
