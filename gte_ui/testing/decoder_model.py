"""Build randomly initialised decoder embedders (Qwen2 / Qwen3) for tests and benchmarks, offline.

They are laid out exactly as Qwen3-Embedding and gte-Qwen2-instruct ship: the transformers model
at the top of the folder, a byte-level BPE ``tokenizer.json`` whose post-processor appends
``<|endoftext|>`` (the token last-token pooling reads), ``padding_side`` left, and the
sentence-transformers files (``modules.json``, ``1_Pooling/config.json`` with
``pooling_mode_lasttoken``, ``2_Normalize``, ``config_sentence_transformers.json`` with the
``query`` / ``document`` prompts, ``sentence_bert_config.json``).

* ``tiny``: 2 layers, hidden 64 (so 32..64 output dimensions can be tested) — loads and runs in well under a second.
* ``qwen3-0.6b``: Qwen3-Embedding-0.6B's shape (hidden 1024, 28 layers, 16 heads of 128, 8 KV heads,
  intermediate 3072, vocab 151669): speed and memory on it hold for the real model; its scores
  mean nothing.

The tokenizer is trained here with the ``tokenizers`` library on the package's own sample
sentences, so Chinese and English text get real multi-byte merges, never an unknown token.
"""

from __future__ import annotations

import json
from pathlib import Path

from gte_ui.core.resources import SAMPLES
from gte_ui.testing.toymodel import _COMMON_ZH, cached_build

ENDOFTEXT = "<|endoftext|>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
SPECIALS = [ENDOFTEXT, IM_START, IM_END]
#: Qwen3-Embedding's own query prompt (config_sentence_transformers.json); documents are bare
QUERY_PROMPT = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery:"
#: Qwen2's pre-tokenizer split (letters, numbers one by one, punctuation runs, whitespace)
_QWEN_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
               r"|\s*[\r\n]+|\s+(?!\S)|\s+")

SHAPES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=16, intermediate_size=128, max_position_embeddings=512, vocab_size=0),
    "qwen3-0.6b": dict(hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, intermediate_size=3072,
                       max_position_embeddings=32768, vocab_size=151669),
}
FAMILIES = ("qwen3", "qwen2")


#: Qwen3-Reranker's chat frame (its model card): the answer is the next token, "yes" or "no"
RERANK_PREFIX = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and "
                 'the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n')
RERANK_SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def _corpus() -> list[str]:
    """Training text for the BPE merges: the shipped sample pairs (Chinese and English), and the
    reranker's frame with bare "yes" / "no" (single tokens, as in Qwen's vocabulary)."""
    lines = [_COMMON_ZH, QUERY_PROMPT, RERANK_PREFIX, RERANK_SUFFIX] + ["yes", "no"] * 200
    for path in sorted(SAMPLES.glob("*.tsv")):
        lines += path.read_text(encoding="utf-8").splitlines()
    return lines


def save_bpe_tokenizer(folder: Path, model_max_length: int, vocab_size: int = 2000,
                       append_eos: bool = True) -> None:
    """A byte-level BPE tokenizer like Qwen's (left padding; ``<|endoftext|>`` appended to every
    text as Qwen3-Embedding's does, unless ``append_eos=False`` as Qwen3-Reranker's) saved into ``folder``."""
    # test-model builders: torch / transformers / tokenizers only when a model is built
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tk = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tk.add_special_tokens(SPECIALS)
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tk.train_from_iterator(_corpus(), trainer=trainer)
    tk.add_tokens(["<think>", "</think>"])  # whole tokens in Qwen3's vocabulary too
    eos = tk.token_to_id(ENDOFTEXT)
    if append_eos:
        tk.post_processor = processors.TemplateProcessing(
            single=f"$A:0 {ENDOFTEXT}:0", pair=f"$A:0 {ENDOFTEXT}:0 $B:1 {ENDOFTEXT}:1",
            special_tokens=[(ENDOFTEXT, eos)])
    else:
        tk.post_processor = processors.ByteLevel(trim_offsets=False)
    if tk.token_to_id("yes") is None or tk.token_to_id("no") is None:
        raise RuntimeError("the BPE training did not make 'yes' / 'no' single tokens")
    fast = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token=IM_END, pad_token=ENDOFTEXT,
                                   padding_side="left", model_max_length=model_max_length)
    fast.save_pretrained(str(folder))


def write_sentence_transformers_files(folder: Path, dim: int, max_seq_length: int,
                                      prompts: dict[str, str] | None,
                                      matryoshka: bool = False) -> None:
    """modules.json (Transformer, last-token Pooling, Normalize) and the ST configs, as the real repos."""
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": dim, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": True, "include_prompt": True}, indent=2))
    (folder / "2_Normalize").mkdir(exist_ok=True)
    (folder / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": max_seq_length, "do_lower_case": False}))
    st = {"similarity_fn_name": "cosine", "default_prompt_name": None, "prompts": prompts or {}}
    (folder / "config_sentence_transformers.json").write_text(json.dumps(st, indent=2))
    if matryoshka:  # the key jina-embeddings-v3 uses in config.json; gte_ui reads it
        cfg = json.loads((folder / "config.json").read_text())
        cfg["matryoshka_dimensions"] = [d for d in (32, 64, 128, 256, 512, 768, 1024) if d < dim] + [dim]
        (folder / "config.json").write_text(json.dumps(cfg, indent=2))


def build_random_decoder(folder: str | Path, family: str = "qwen3", shape: str = "tiny", seed: int = 0,
                         prompts: dict[str, str] | None = None, with_prompts: bool = True,
                         max_length: int | None = None, matryoshka: bool = False) -> Path:
    """Save a random Qwen3 / Qwen2 embedder (safetensors, BPE tokenizer, sentence-transformers
    files) into ``folder``; return it.

    Args:
        family: "qwen3" (Qwen3-Embedding) or "qwen2" (gte-Qwen2-instruct).
        shape: a key of :data:`SHAPES`.
        prompts: the ``prompts`` of config_sentence_transformers.json; default Qwen3-Embedding's
            query prompt and a bare document prompt; ``with_prompts=False`` writes none.
        max_length: sentence-transformers ``max_seq_length`` (default: the shape's positions).
        matryoshka: write ``matryoshka_dimensions`` into config.json (the model was trained for
            truncated outputs).
    """
    # test-model builders: torch / transformers / tokenizers only when a model is built
    import torch
    from transformers import Qwen2Config, Qwen2Model, Qwen3Config, Qwen3Model

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose one of {FAMILIES}")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {sorted(SHAPES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dims = dict(SHAPES[shape])
    limit = max_length or dims["max_position_embeddings"]
    save_bpe_tokenizer(folder, limit)
    if not dims["vocab_size"]:
        dims["vocab_size"] = len(json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]) + len(SPECIALS)
    torch.manual_seed(seed)
    common = dict(dims, rms_norm_eps=1e-6, rope_theta=1_000_000.0, tie_word_embeddings=True,
                  initializer_range=0.02 if shape != "tiny" else 0.3)
    if family == "qwen3":
        config, model_cls = Qwen3Config(**common), Qwen3Model
    else:
        common.pop("head_dim")
        config, model_cls = Qwen2Config(**common), Qwen2Model
    model = model_cls(config).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    if prompts is None:
        prompts = {"query": QUERY_PROMPT, "document": ""}
    write_sentence_transformers_files(folder, int(dims["hidden_size"]), limit,
                                      prompts if with_prompts else None, matryoshka)
    (folder / "README.md").write_text(
        f"Randomly initialised {family} embedder, shape {shape!r}, seed {seed}. For tests and speed "
        "only: its similarity scores mean nothing.\n", encoding="utf-8")
    (folder / "gte_ui_toymodel.json").write_text(json.dumps({"family": family, "shape": shape, "seed": seed}))
    return folder


def build_random_decoder_reranker(folder: str | Path, shape: str = "tiny", seed: int = 0) -> Path:
    """Save a random Qwen3-Reranker-like model (``Qwen3ForCausalLM``, tied head, BPE tokenizer with
    "yes" / "no" tokens, no appended eos, left padding) into ``folder``; return it."""
    # test-model builders: torch / transformers / tokenizers only when a model is built
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dims = dict(SHAPES[shape])
    save_bpe_tokenizer(folder, dims["max_position_embeddings"], append_eos=False)
    if not dims["vocab_size"]:
        dims["vocab_size"] = len(json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]) + 8
    torch.manual_seed(seed)
    config = Qwen3Config(**dims, rms_norm_eps=1e-6, rope_theta=1_000_000.0, tie_word_embeddings=True,
                         initializer_range=0.02 if shape != "tiny" else 0.3, architectures=["Qwen3ForCausalLM"])
    Qwen3ForCausalLM(config).eval().save_pretrained(str(folder), safe_serialization=True)
    (folder / "README.md").write_text(f"Randomly initialised Qwen3 reranker, shape {shape!r}, seed {seed}: tests only.\n")
    return folder


def cached_random_decoder(shape: str = "qwen3-0.6b", family: str = "qwen3") -> Path:
    """A random decoder of ``shape`` in the bench cache, built on first use (0.6B: ~2.4 GB fp32)."""
    return cached_build(f"{family}-{shape}-shape", f"{family} {shape}-shape model",
                        lambda folder: build_random_decoder(folder, family, shape, matryoshka=family == "qwen3"))
