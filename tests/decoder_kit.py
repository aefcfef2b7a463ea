"""Qwen3-Reranker's model-card scoring, the reference the decoder-reranker tests compare against
(tests/unit/engine/test_decoder_reranker.py, tests/unit/engine/test_decoders.py)."""

from __future__ import annotations

import torch


def model_card_scores(folder, pairs, instruction=None, max_length=8192):
    """Qwen3-Reranker's model-card computation, verbatim in substance: left padding, the full LM
    head, log-softmax over (no, yes) at the last position."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from gte_ui.engine.decoder_reranker import (
        ASSISTANT_SUFFIX,
        SYSTEM_PREFIX,
        format_pair,
    )

    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    prefix = tokenizer.encode(SYSTEM_PREFIX, add_special_tokens=False)
    suffix = tokenizer.encode(ASSISTANT_SUFFIX, add_special_tokens=False)
    texts = [format_pair(q, d, instruction) for q, d in pairs]
    inputs = tokenizer(texts, padding=False, truncation="longest_first", return_attention_mask=False,
                       max_length=max_length - len(prefix) - len(suffix))
    inputs["input_ids"] = [prefix + ids + suffix for ids in inputs["input_ids"]]
    inputs = tokenizer.pad(inputs, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[:, -1, :]
    pair = torch.nn.functional.log_softmax(torch.stack([logits[:, no], logits[:, yes]], dim=1), dim=1)
    return pair[:, 1].exp().numpy()
