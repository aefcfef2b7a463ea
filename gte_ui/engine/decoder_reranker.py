"""Decoder rerankers (Qwen3-Reranker): relevance as the "yes" / "no" answer of a chat-formatted prompt.

The model reads ``<|im_start|>system … <|im_start|>user\\n<Instruct>: {instruction}\\n<Query>: {query}
\\n<Document>: {doc}<|im_end|>\\n<|im_start|>assistant\\n<think>\\n\\n</think>\\n\\n`` and the relevance
logit is ``logit("yes") - logit("no")`` at the last token, so ``sigmoid`` of it is exactly the model
card's ``softmax([no, yes])[yes]``. Only the two vocabulary rows of the LM head are computed, on
the last token only (the full head is 151k rows × every token: most of a small model's work).

Pairs are tokenised without special tokens, the instruction/query/document text truncated to leave
room for the frame (from a head of it only: :func:`~gte_ui.engine.tokenizer.head_token_ids`, the
ids exactly the whole text's), sorted by length and run ``batch_size`` at a time, one forward pass
per turn (:class:`~gte_ui.engine.encoder.TurnLock`), padded on the tokenizer's side; the answer is
read at each row's last real token either way.

:class:`DecoderReranker` answers the same interface as the cross-encoder
:class:`~gte_ui.engine.reranker.Reranker` (``score`` → raw logits as an :class:`Encoded`, ``info``,
``max_length``, counters), so ``--reranker Qwen/Qwen3-Reranker-0.6B`` serves every rerank route,
the tab and the evaluation unchanged; :func:`gte_ui.engine.models.rerank_loader.load_reranker` picks it
for ``*ForCausalLM`` checkpoints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from gte_ui.core.errors import ConfigError, ErrorType, GteError
from gte_ui.engine.backends.int8 import INT8_MODES, quantize_w8a8
from gte_ui.engine.encoder import Encoded, TurnLock, plan_batches, public_model_name
from gte_ui.engine.pooling import last_token_index, pad_batch
from gte_ui.engine.reranker import RerankerInfo, pair_weights
from gte_ui.engine.tokenizer import head_token_ids, load_tokenizer

log = logging.getLogger(__name__)

SYSTEM_PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and "
                 'the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
ASSISTANT_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
DEFAULT_INSTRUCTION = "Given a web search query, retrieve relevant passages that answer the query"
#: Qwen3-Reranker's model card reads at most 8192 tokens
DEFAULT_MAX_LENGTH = 8192


def format_pair(query: str, document: str, instruction: str | None = None) -> str:
    """The user turn of the model card's prompt."""
    return f"<Instruct>: {instruction or DEFAULT_INSTRUCTION}\n<Query>: {query}\n<Document>: {document}"


def is_decoder_reranker(config: dict) -> bool:
    """A causal LM checkpoint (``*ForCausalLM``) offered as a reranker: Qwen3-Reranker's layout."""
    return any(str(a).endswith("ForCausalLM") for a in config.get("architectures") or [])


class DecoderReranker:
    """Score (query, document) pairs with a Qwen3-Reranker-style causal LM: raw yes-minus-no logits."""

    def __init__(self, folder: str | Path, *, device: str = "cpu", precision: str = "fp32",
                 max_length: int | None = None, batch_size: int = 16, instruction: str | None = None,
                 int8_mode: str = "accurate", trust_remote_code: bool = False, model: str | None = None,
                 name: str | None = None) -> None:
        """``model``: what the user asked for (id or folder); ``name``: what clients are shown."""
        # heavy: transformers takes seconds to import, so it loads with the first model, not the module
        from transformers import AutoModelForCausalLM

        t0 = time.perf_counter()
        folder = Path(folder)
        self.tokenizer = load_tokenizer(folder, trust_remote_code)
        vocab = self.tokenizer.get_vocab()
        missing = [t for t in ("yes", "no") if t not in vocab]
        if missing:
            raise ConfigError(f"the reranker's vocabulary has no {' / '.join(repr(t) for t in missing)} token; "
                              "a decoder reranker answers 'yes' or 'no'", "该重排模型词表中没有 yes / no")
        self.yes_id, self.no_id = vocab["yes"], vocab["no"]
        dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16, "int8": torch.float32}[precision]
        lm = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, trust_remote_code=trust_remote_code).eval()
        head = lm.get_output_embeddings().weight.detach()
        # the two rows that matter, fp32 whatever the body's precision
        self.answer_rows = torch.stack([head[self.yes_id], head[self.no_id]]).float().to(device)
        body = lm.get_decoder() if hasattr(lm, "get_decoder") else lm.model
        backend = "torch"
        if precision == "int8":
            keep = INT8_MODES[int8_mode].decoder_fp32_layers if int8_mode in INT8_MODES else ()
            body = quantize_w8a8(body, tokenizer=self.tokenizer, alpha=0.5, keep_fp32=keep)
            backend = f"torch-int8-{int8_mode}"
        del lm
        self.body = body.to(device)
        self.device = device
        self.batch_size = batch_size
        self.instruction = instruction or DEFAULT_INSTRUCTION
        self.prefix = self.tokenizer(SYSTEM_PREFIX, add_special_tokens=False)["input_ids"]
        self.suffix = self.tokenizer(ASSISTANT_SUFFIX, add_special_tokens=False)["input_ids"]
        limit = min(DEFAULT_MAX_LENGTH, int(getattr(body.config, "max_position_embeddings", DEFAULT_MAX_LENGTH)))
        if max_length and max_length > limit:
            raise ConfigError(f"--reranker-max-length {max_length} is above this reranker's limit of {limit} tokens",
                              f"--reranker-max-length {max_length} 超过重排模型上限 {limit}")
        self.max_length = max_length or limit
        if self.max_length <= len(self.prefix) + len(self.suffix) + 8:
            raise ConfigError(f"reranker max length {self.max_length} leaves no room for the text "
                              f"(the prompt frame takes {len(self.prefix) + len(self.suffix)} tokens)",
                              "重排最大长度过小")
        self.pad_left = getattr(self.tokenizer, "padding_side", "left") == "left"
        pad = self.tokenizer.pad_token_id
        self._pad_id = pad if pad is not None else (self.tokenizer.eos_token_id or 0)
        self._lock = TurnLock()
        #: forward passes and pairs scored so far (tests and /health read these)
        self.forward_calls = 0
        self.pairs_scored = 0
        architecture = (getattr(body.config, "architectures", None) or [type(body).__name__])[0]
        self.info = RerankerInfo(
            model=model or str(folder), path=str(folder), architecture=architecture, max_length=self.max_length,
            device=device, precision=precision, backend=backend, load_seconds=round(time.perf_counter() - t0, 3),
            name=name or public_model_name(model or str(folder)), kind="decoder yes/no", instruction=self.instruction)
        log.info("decoder reranker ready: %s", self.info)

    def tokenize(self, pairs: Sequence[tuple[str, str]], instruction: str | None = None
                 ) -> tuple[list[list[int]], list[int], list[bool]]:
        """Framed ids per pair, each pair's token count (estimated past the window) and whether it was cut."""
        frame = len(self.prefix) + len(self.suffix)
        room = self.max_length - frame
        texts = [format_pair(q, d, instruction or self.instruction) for q, d in pairs]
        body, counts = head_token_ids(self.tokenizer, texts, room)
        return [self.prefix + b + self.suffix for b in body], [n + frame for n in counts], [n > room for n in counts]

    def run_weights(self, pairs: Sequence[tuple[str, str]]) -> list[int]:
        """A bound on the tokens the model runs for each pair, without tokenising: the dynamic
        batcher's weights (the prompt's words count as characters too)."""
        frame = len(self.prefix) + len(self.suffix) + len(format_pair("", "", self.instruction))
        return pair_weights(pairs, frame, self.max_length)

    def tokens_to_run(self, pairs: Sequence[tuple[str, str]]) -> int:
        """Tokens the model will run for ``pairs`` (each pair's window), from heads of the texts."""
        return sum(len(x) for x in self.tokenize(pairs)[0]) if pairs else 0

    def score(self, pairs: Sequence[tuple[str, str]]) -> Encoded:
        """Raw logits of ``(query, document)`` pairs under the configured instruction, in input
        order, as an :class:`Encoded` with [n, 1] vectors: the cross-encoder's interface."""
        pairs = [(str(q), str(d)) for q, d in pairs]
        if not pairs:
            return Encoded(np.zeros((0, 1), np.float32), [], [])
        ids, counts, truncated = self.tokenize(pairs)
        return Encoded(self._run(ids)[:, None], counts, truncated)

    def logits(self, pairs: Sequence[tuple[str, str]], instruction: str | None = None) -> np.ndarray:
        """Raw relevance logits (``logit(yes) - logit(no)``) of the pairs, in input order, float32 [n];
        ``instruction`` replaces the configured one for this call."""
        ids, _, _ = self.tokenize(pairs, instruction)
        return self._run(ids)

    def _run(self, ids: list[list[int]]) -> np.ndarray:
        out = np.empty(len(ids), dtype=np.float32)
        for chunk in plan_batches([len(x) for x in ids], self.batch_size):
            with self._lock:  # one pass per turn: others' passes run between this request's
                out[chunk] = self._forward([ids[i] for i in chunk])
        with self._lock:
            self.pairs_scored += len(ids)
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        input_ids, mask = pad_batch(batch, self._pad_id, self.pad_left)
        width = input_ids.shape[1]
        try:
            with torch.inference_mode():
                hidden = self.body(input_ids=input_ids.to(self.device),
                                   attention_mask=mask.to(self.device)).last_hidden_state
                last = hidden[torch.arange(len(batch), device=hidden.device), last_token_index(mask.to(hidden.device))]
                answers = last.float() @ self.answer_rows.T  # [batch, 2]: yes, no
                logits = (answers[:, 0] - answers[:, 1]).cpu().numpy()
        except torch.cuda.OutOfMemoryError as exc:  # pragma: no cover - GPU only
            torch.cuda.empty_cache()
            raise GteError(ErrorType.OVERLOADED, f"GPU out of memory reranking {len(batch)} pairs x {width} tokens",
                           "GPU 显存不足，请减少文档数量或长度") from exc
        self.forward_calls += 1
        return logits

