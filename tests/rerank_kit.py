"""Shared by the reranker's tests (tests/unit/engine/test_reranker.py) and the Rerank tab's
(tests/unit/frontends/ui/tabs/test_rerank.py): example texts and sentence-transformers'
CrossEncoder as the reference scorer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

QUERY = "这款手机电池续航很强"
DOCS = ["手机电量很耐用", "充电速度特别快 the man", "电池容量大，用一天没问题", "今天天气很好", "好",
        "a woman is playing the guitar " * 30]  # the last pair is over the tiny models' 128 tokens

# Traditional spellings of QUERY and of simplified documents: OpenCC's t2s maps each exactly onto
# its simplified twin (asserted through the scores), and the tiny vocabulary lacks several of the
# traditional characters, so unnormalised they read differently.
TW_QUERY = "這款手機電池續航很強"
TW_DOCS = ["手機電量很耐用", "充電速度特別快", "電池容量大，用一天沒問題", "今天天氣很好", "螢幕很大"]
ZH_DOCS = ["手机电量很耐用", "充电速度特别快", "电池容量大，用一天没问题", "今天天气很好", "萤幕很大"]


def crossencoder_scores(folder: Path, query: str, docs: list[str], raw: bool = False) -> np.ndarray:
    """sentence-transformers' CrossEncoder scores of (query, doc) pairs: sigmoid, or the raw logits."""
    # sentence-transformers: the reference implementation, slow to import; only these checks need it
    from sentence_transformers import CrossEncoder

    ce = CrossEncoder(str(folder), device="cpu")
    kwargs = {"activation_fn": __import__("torch").nn.Identity()} if raw else {}
    return np.asarray(ce.predict([(query, d) for d in docs], **kwargs), dtype=np.float64)
