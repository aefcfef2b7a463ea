"""Build randomly initialised BERT folders for tests and benchmarks (no network needed).

* ``tiny``: a 2-layer BERT with a real Chinese character vocabulary, CLS pooling, as GTE uses.
  It exercises the real loading, tokenising and pooling code in well under a second.
* ``gte-large``: GTE-large-zh's exact shape (vocab 21128, hidden 1024, 24 layers, 16 heads,
  intermediate 4096). Random weights cost exactly what the real ones cost, so speed and memory
  measured on it hold for the real model. It says nothing about quality.

The tokenizer is built with the ``tokenizers`` library (WordPiece + BertNormalizer +
BertPreTokenizer): in transformers 5, ``BertTokenizer(vocab_file=...)`` silently loads a
5-token vocabulary, so every text would become [UNK].
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

# Common Chinese characters (the 500 most frequent, roughly) plus ASCII: enough that the test
# sentences in SPEC and in the shared data tokenise to real ids rather than [UNK].
_COMMON_ZH = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从"
    "已样知全两高长现实点使手力问意开二三四五六七八九零百千万亿元月日时分秒今明昨早晚这那哪谁什怎么很非常特别更最太真比较相似度句子文本向量模型"
    "电池续航强量耐待机设备久容充速快慢一天没问题款台部机器屏幕拍照片游戏性价格便宜贵买卖店商品质服务态度物流送货退换款"
    "苹果蘋手機很好用坏差错对我你他她它们爱喜欢讨厌想要需给让被把从向往跟和与或但因所以如果虽然即使只要"
    "北京上海广州深圳杭州南东西今天气晴雨雪风冷热温度春夏秋冬花草树木山水河湖海江路车站飞船火汽地铁公交"
    "吃喝饭菜肉鱼鸡蛋米面茶酒咖啡牛奶水果香蕉西瓜葡萄"
    "学生老师学校课程考试作业书本读写听说语言中文英数字计算科技网络软件硬件程序代码数据信息系统平台"
    "银行卡账户钱借还贷款利息支付宝花呗余额提现转额度逾期申请开通关闭冻结解绑定修改密码验证码登录注册"
    "男女孩子父母亲朋友同事医生病药院身体健康运动跑步游泳篮球足球比赛"
    "是否可以能够应该必须已经正在将要曾经马上立刻刚才一直总是常常有时偶尔从不"
    "猫狗鸟马牛羊猪鱼虫龙虎熊猴兔鼠蛇"
    "红黄蓝绿白黑灰紫色大小多少长短高低快慢新旧好坏美丑远近轻重"
)
_ASCII = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?;:'\"()-")
_ZH_PUNCT = list("，。！？；：、“”‘’（）《》")
_EN_WORDS = ["the", "a", "is", "are", "and", "of", "to", "in", "phone", "battery", "good", "man", "woman"]


def chinese_vocab() -> list[str]:
    """A small but real vocabulary: specials, CJK characters, ASCII, a few English words."""
    seen: dict[str, None] = {}
    for tok in SPECIAL_TOKENS + list(_COMMON_ZH) + _ZH_PUNCT + _ASCII + _EN_WORDS:
        if tok.strip():
            seen.setdefault(tok, None)
    seen.update({"##" + c: None for c in "abcdefghijklmnopqrstuvwxyz0123456789"})
    return list(seen)


def _full_vocab(vocab_size: int) -> list[str]:
    vocab = chinese_vocab()
    i = 0
    while len(vocab) < vocab_size:  # pad to the exact shape with unused tokens, as BERT does
        vocab.append(f"[unused{i}]")
        i += 1
    return vocab[:vocab_size]


def save_tokenizer(folder: Path, vocab: list[str], model_max_length: int, segment_ids: bool = False) -> None:
    """Write vocab.txt plus a fast tokenizer built with the ``tokenizers`` library.

    ``segment_ids``: the tokenizer also returns ``token_type_ids`` (as BERT cross-encoders' do).
    """
    # test-model builders: torch / transformers / tokenizers only when a model is built
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    ids = {tok: i for i, tok in enumerate(vocab)}
    tk = Tokenizer(models.WordPiece(vocab=ids, unk_token="[UNK]", max_input_chars_per_word=100))
    tk.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                               strip_accents=None, lowercase=True)
    tk.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tk.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])])
    tk.decoder = decoders.WordPiece(prefix="##")
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tk, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=model_max_length,
        **({"model_input_names": ["input_ids", "token_type_ids", "attention_mask"]} if segment_ids else {}))
    fast.save_pretrained(str(folder))


SHAPES: dict[str, dict[str, int]] = {
    "tiny": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                 max_position_embeddings=128, vocab_size=0),
    # the tiny model with GTE's 512-token limit: passage-length tests at tiny cost
    "tiny-512": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=512, vocab_size=0),
    "gte-large": dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                      intermediate_size=4096, max_position_embeddings=512, vocab_size=21128),
    "gte-base": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                     intermediate_size=3072, max_position_embeddings=512, vocab_size=21128),
    "gte-small": dict(hidden_size=512, num_hidden_layers=12, num_attention_heads=8,
                      intermediate_size=2048, max_position_embeddings=512, vocab_size=21128),
}


def build_random_bert(folder: str | Path, shape: str = "tiny", seed: int = 0,
                      max_length: int | None = None) -> Path:
    """Save a randomly initialised BERT (safetensors + tokenizer) into ``folder``; return it.

    Args:
        shape: a key of :data:`SHAPES`.
        max_length: tokenizer ``model_max_length`` (default: the shape's position limit).
    """
    # test-model builders: torch / transformers / tokenizers only when a model is built
    import torch
    from transformers import BertConfig, BertModel

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose one of {sorted(SHAPES)}")
    folder = Path(folder)
    dims = dict(SHAPES[shape])
    vocab = _full_vocab(dims["vocab_size"] or len(chinese_vocab()))
    dims["vocab_size"] = len(vocab)
    torch.manual_seed(seed)
    # The tiny model gets a wide initialisation so that different texts get clearly different
    # vectors (BERT's default 0.02 makes every random CLS vector nearly the same).
    config = BertConfig(**dims, initializer_range=0.5 if shape.startswith("tiny") else 0.02)
    model = BertModel(config).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    save_tokenizer(folder, vocab, max_length or dims["max_position_embeddings"])
    (folder / "README.md").write_text(
        f"Randomly initialised BERT, shape {shape!r}, seed {seed}. For tests and speed only: "
        "its similarity scores mean nothing.\n", encoding="utf-8")
    (folder / "gte_ui_toymodel.json").write_text(json.dumps({"shape": shape, "seed": seed}))
    return folder


def bench_cache_dir() -> Path:
    """Where benchmarks keep their random models: ``$GTE_BENCH_CACHE`` or ``~/.cache/gte_ui/bench``."""
    return Path(os.environ.get("GTE_BENCH_CACHE", Path.home() / ".cache" / "gte_ui" / "bench"))


def cached_build(name: str, what: str, build: Callable[[Path], object]) -> Path:
    """``bench_cache_dir() / name``, made by ``build(folder)`` the first time (benchmarks reuse it)."""
    folder = bench_cache_dir() / name
    if not (folder / "model.safetensors").is_file():
        print(f"building the {what} in {folder} (once)…", file=sys.stderr)
        build(folder)
    return folder


def cached_random_bert(shape: str = "gte-large") -> Path:
    """A random BERT of ``shape`` in the bench cache, built on first use (GTE-large: ~1.3 GB)."""
    return cached_build(f"{shape}-shape", f"{shape}-shape model", lambda folder: build_random_bert(folder, shape))


# ------------------------------------------------------------------ cross-encoders (rerankers)
#: cross-encoder shapes: family (bert | xlmr) and the encoder's dimensions
CROSS_SHAPES: dict[str, dict[str, object]] = {
    "tiny-bert": dict(family="bert", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, vocab_size=0),
    "tiny-xlmr": dict(family="xlmr", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=130, vocab_size=0),
    # BAAI/bge-reranker-base's shape (XLM-RoBERTa base): what the rerank benchmark times
    "bge-reranker-base": dict(family="xlmr", hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                              intermediate_size=3072, max_position_embeddings=514, vocab_size=250002),
}

XLMR_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def save_unigram_tokenizer(folder: Path, vocab_size: int | None, model_max_length: int) -> list[str]:
    """An XLM-R-style SentencePiece-Unigram tokenizer (``<s> A </s></s> B </s>``, Metaspace
    ``▁`` word starts) built with the ``tokenizers`` library and wrapped in
    ``PreTrainedTokenizerFast``. Its pieces: the specials, CJK characters, ``▁``-words, letters.
    Returns the vocabulary."""
    # test-model builders: torch / transformers / tokenizers only when a model is built
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces: dict[str, None] = dict.fromkeys(XLMR_SPECIALS)
    pieces["▁"] = None
    for word in _EN_WORDS + ["man", "woman", "guitar", "playing", "dog", "cat", "weather", "fine"]:
        pieces["▁" + word] = None
    for ch in list(_COMMON_ZH) + _ZH_PUNCT + _ASCII:
        if ch.strip():
            pieces[ch] = None
            pieces["▁" + ch] = None
    vocab = list(pieces)
    i = 0
    while vocab_size and len(vocab) < vocab_size:  # the exact shape, with pieces no text produces
        vocab.append(f"<unused{i}>")
        i += 1
    # score: longer pieces more likely (so whole words win over letters), specials never matched
    scored = [(p, 0.0 if p in XLMR_SPECIALS else -10.0 + min(len(p), 8)) for p in vocab]
    tk = Tokenizer(models.Unigram(scored, unk_id=XLMR_SPECIALS.index("<unk>"), byte_fallback=False))
    tk.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tk.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tk.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tk.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tk, bos_token="<s>", eos_token="</s>", sep_token="</s>", cls_token="<s>",
        unk_token="<unk>", pad_token="<pad>", mask_token="<unk>", model_max_length=model_max_length)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    return vocab


def build_random_cross_encoder(folder: str | Path, shape: str = "tiny-bert", seed: int = 0) -> Path:
    """Save a randomly initialised cross-encoder (``*ForSequenceClassification``, one logit) with a
    real tokenizer into ``folder``: BERT with the WordPiece vocabulary above, or XLM-RoBERTa with a
    Unigram one. Its scores mean nothing; its shape and arithmetic are a real reranker's."""
    # test-model builders: torch / transformers / tokenizers only when a model is built
    import torch
    from transformers import (BertConfig, BertForSequenceClassification, XLMRobertaConfig,
                              XLMRobertaForSequenceClassification)

    if shape not in CROSS_SHAPES:
        raise ValueError(f"unknown cross-encoder shape {shape!r}; choose one of {sorted(CROSS_SHAPES)}")
    folder = Path(folder)
    dims = dict(CROSS_SHAPES[shape])
    family = dims.pop("family")
    tiny = shape.startswith("tiny")
    torch.manual_seed(seed)
    if family == "bert":
        vocab = _full_vocab(int(dims["vocab_size"]) or len(chinese_vocab()))
        dims["vocab_size"] = len(vocab)
        config = BertConfig(**dims, num_labels=1, initializer_range=0.5 if tiny else 0.02)
        model = BertForSequenceClassification(config).eval()
        save_tokenizer(folder, vocab, int(dims["max_position_embeddings"]), segment_ids=True)
    else:
        vocab = save_unigram_tokenizer(folder, int(dims["vocab_size"]) or None,
                                       int(dims["max_position_embeddings"]) - 2)
        dims["vocab_size"] = len(vocab)
        config = XLMRobertaConfig(**dims, num_labels=1, type_vocab_size=1, pad_token_id=1, bos_token_id=0,
                                  eos_token_id=2, initializer_range=0.5 if tiny else 0.02)
        model = XLMRobertaForSequenceClassification(config).eval()
    model.save_pretrained(str(folder), safe_serialization=True)
    (folder / "README.md").write_text(
        f"Randomly initialised cross-encoder, shape {shape!r}, seed {seed}. For tests and speed only: "
        "its relevance scores mean nothing.\n", encoding="utf-8")
    (folder / "gte_ui_toymodel.json").write_text(json.dumps({"shape": shape, "seed": seed}))
    return folder


def cached_random_cross_encoder(shape: str = "bge-reranker-base") -> Path:
    """A random cross-encoder of ``shape`` in the bench cache, built on first use."""
    return cached_build(f"{shape}-shape", f"{shape}-shape cross-encoder",
                        lambda folder: build_random_cross_encoder(folder, shape))


def build_minilm_cross_encoder(folder: str | Path, minilm_path: str | Path, seed: int = 0,
                               head_scale: float = 1.0) -> Path:
    """all-MiniLM-L6-v2's real encoder with a seeded random one-logit head, saved as a cross-encoder:
    the closest real thing offline for int8-vs-fp32 accuracy (a random encoder has none of a
    trained one's activation outliers).

    ``head_scale`` multiplies the head's weights. With BERT's 0.02 initialisation the logits
    barely move (sigmoid scores 0.50 ± 0.005 on STS-B), which would make any |Δscore| bound
    trivial; a scale of 100 spreads them like a trained reranker's (logit std ≈ 2).
    """
    # test-model builders: torch / transformers / tokenizers only when a model is built
    import torch
    from transformers import BertForSequenceClassification

    from gte_ui.engine.tokenizer import load_tokenizer

    folder = Path(folder)
    torch.manual_seed(seed)
    model = BertForSequenceClassification.from_pretrained(str(minilm_path), num_labels=1).eval()
    with torch.no_grad():
        model.classifier.weight.mul_(head_scale)
    model.save_pretrained(str(folder), safe_serialization=True)
    load_tokenizer(Path(minilm_path)).save_pretrained(str(folder))
    (folder / "gte_ui_toymodel.json").write_text(json.dumps({"base": str(minilm_path), "seed": seed}))
    return folder
