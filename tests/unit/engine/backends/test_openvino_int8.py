"""``--int8-engine openvino``: the NNCF int8 exports in real OpenVINO (``--int8-mode`` accurate:
run-time per-group activations for all but the FFN output GEMMs; fast: static everywhere), on the
tiny random BERT, a tiny BERT cross-encoder and the real MiniLM; the cached export is reused, healed
when damaged, and a missing install is a start error naming the pip line."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import requests
from conftest import LiveServer

from gte_ui.core.errors import ConfigError
from gte_ui.core.settings import Settings, parse_settings
from gte_ui.engine.encoder import Encoder
from gte_ui.engine.backends.onnx_export import verify_export
from gte_ui.engine.reranker import Reranker, sigmoid

pytest.importorskip("openvino")
pytest.importorskip("nncf")

TEXTS = ["今天天气很好", "好", "这款手机电池续航很强，充电速度特别快，半小时就能充满",
         "花呗怎么提前还款", "a woman is playing the guitar " * 20]  # the last one is cut at 128 tokens
QUERY = "这款手机电池续航很强"
DOCS = ["手机电量很耐用", "充电速度特别快 the man", "电池容量大，用一天没问题", "今天天气很好", "好"]


def ov_settings(cache, **kw) -> Settings:
    return Settings(device="cpu", precision="int8", int8_engine="openvino", export_cache=str(cache), **kw)


@pytest.fixture(scope="module")
def ov_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("ov-cache")


@pytest.fixture(scope="module")
def tiny_ov(tiny_model_dir, ov_cache) -> Encoder:
    return Encoder.load(ov_settings(ov_cache, model=str(tiny_model_dir)))


@pytest.fixture(scope="module")
def tiny_fp32(tiny_model_dir) -> Encoder:
    return Encoder.load(Settings(model=str(tiny_model_dir), device="cpu", precision="fp32"))


def test_tiny_bert_vectors_close_to_fp32(tiny_ov, tiny_fp32):
    assert (tiny_ov.info.backend, tiny_ov.info.precision) == ("openvino-int8-accurate", "int8")
    assert tiny_ov.info.backend_note == "OpenVINO int8 exported at this start"
    assert tiny_ov.backend.path.name == "model.xml" and verify_export(tiny_ov.backend.path) is None
    # one text (batch 1) and a padded batch of mixed lengths: batch and sequence dims are dynamic
    for texts in (TEXTS[:1], TEXTS, TEXTS * 7):
        got, ref = tiny_ov.encode(texts).vectors, tiny_fp32.encode(texts).vectors
        cos = (got * ref).sum(1)  # both L2-normalised
        # measured min 0.994: 32-dim random weights (the real-model bound is the MiniLM test's)
        assert got.shape == ref.shape and cos.min() >= 0.99, cos
    # the same text alone or in a batch: the same vector up to float noise
    np.testing.assert_allclose(tiny_ov.encode(TEXTS[:1]).vectors[0], tiny_ov.encode(TEXTS).vectors[0], atol=2e-3)


def test_concurrent_calls_get_their_own_answers(tiny_ov):
    """One compiled model, one infer request behind a lock: threads never read each other's output."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [[t] * (i + 1) for i, t in enumerate(TEXTS)] * 4
    serial = [tiny_ov.backend.forward(*encoded(tiny_ov, b)) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda b: tiny_ov.backend.forward(*encoded(tiny_ov, b)), batches))
    for one, other in zip(serial, parallel):
        np.testing.assert_array_equal(one.numpy(), other.numpy())


def encoded(encoder: Encoder, texts: list[str]):
    e = encoder.tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
    return e["input_ids"], e["attention_mask"]


def test_second_load_reuses_the_cached_export(tiny_ov, tiny_model_dir, ov_cache):
    folder = tiny_ov.backend.path.parent
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    again = Encoder.load(ov_settings(ov_cache, model=str(tiny_model_dir)))
    assert again.backend.path == tiny_ov.backend.path and again.info.backend_note == ""
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps  # nothing re-written
    assert again.info.load_seconds < tiny_ov.info.load_seconds / 2
    np.testing.assert_array_equal(again.encode(TEXTS).vectors, tiny_ov.encode(TEXTS).vectors)


def test_a_damaged_export_is_exported_again(tiny_ov, tiny_model_dir, tmp_path):
    cache = tmp_path / "cache"
    first = Encoder.load(ov_settings(cache, model=str(tiny_model_dir)))
    weights = first.backend.path.with_suffix(".bin")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, size unchanged
    weights.write_bytes(bytes(data))
    assert "model.bin" in verify_export(first.backend.path)
    healed = Encoder.load(ov_settings(cache, model=str(tiny_model_dir)))
    assert healed.info.backend == "openvino-int8-accurate"
    assert healed.info.backend_note.startswith("re-exported: the cached OpenVINO export was damaged")
    assert "model.bin" in healed.info.backend_note and str(tmp_path) not in healed.info.backend_note
    assert verify_export(healed.backend.path) is None
    np.testing.assert_allclose(healed.encode(TEXTS).vectors, tiny_ov.encode(TEXTS).vectors, atol=1e-5)
    (healed.backend.path.parent / "source.json").unlink()  # no record: not trusted either
    assert Encoder.load(ov_settings(cache, model=str(tiny_model_dir))).info.backend_note == (
        "re-exported: the cached OpenVINO export was damaged (no checksum recorded for it)")


def test_not_installed_is_a_start_error_naming_the_pip_line(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # what `import openvino` does when it is absent
    with pytest.raises(ConfigError) as err:
        Encoder.load(ov_settings(tmp_path, model=str(tiny_model_dir)))
    assert "pip install openvino nncf" in err.value.en and "gte-ui[openvino]" in err.value.en
    assert err.value.zh and "pip install openvino nncf" in err.value.zh
    assert not any(tmp_path.iterdir())  # nothing exported, no fallback engine loaded


def test_engine_is_a_setting():
    assert parse_settings(["--int8-engine", "openvino"], env={}).int8_engine == "openvino"
    assert parse_settings([], env={"GTE_INT8_ENGINE": "openvino"}).int8_engine == "openvino"
    # torch's per-tensor dynamic mode has no OpenVINO form: a start error, not a silent other scheme
    with pytest.raises(ConfigError) as err:
        parse_settings(["--int8-engine", "openvino", "--int8-mode", "dynamic"], env={})
    assert "accurate or fast" in err.value.en and err.value.zh


def test_the_two_modes_quantise_as_stated(tiny_ov, tiny_model_dir, ov_cache, tiny_fp32):
    """accurate: Q/K/V, attention output and FFN input GEMMs take int8 weights and no calibrated
    activation scale (OpenVINO quantises them per group at run time), the FFN output GEMMs keep
    static scales; fast: every GEMM but the fp32 outlier branch static. Separate cache entries."""
    import openvino as ov

    from gte_ui.engine.backends.openvino_int8 import DYNAMIC_GROUP

    fast = Encoder.load(ov_settings(ov_cache, model=str(tiny_model_dir), int8_mode="fast"))
    assert fast.info.backend == "openvino-int8-fast" and fast.backend.path != tiny_ov.backend.path
    assert tiny_ov.backend.path.parent.name.startswith("tiny") and "-openvino-int8-accurate-" in str(tiny_ov.backend.path)

    def gemm_inputs(path):
        """MatMul name -> what feeds each input, looking through reshapes and dequantisation:
        ``FakeQuantize`` (a static scale), ``Constant:i8`` (int8 weights) or the producing op."""
        model = ov.Core().read_model(str(path))
        out = {}
        for op in model.get_ordered_ops():
            if op.get_type_name() != "MatMul" or "outlier_side" in op.get_friendly_name():
                continue
            kinds = []
            for port in op.inputs():
                node = port.get_source_output().get_node()
                while node.get_type_name() in ("Reshape", "Transpose", "Convert", "Multiply", "Subtract"):
                    node = node.input_value(0).get_node()
                kind = node.get_type_name()
                kinds.append(f"{kind}:{node.get_element_type().get_type_name()}" if kind == "Constant" else kind)
            out[op.get_friendly_name()] = kinds
        return out

    accurate, static = gemm_inputs(tiny_ov.backend.path), gemm_inputs(fast.backend.path)
    runtime = [n for n in accurate if any(k in n for k in ("attention.self.query", "attention.self.key",
                                                           "attention.self.value", "attention.output.dense",
                                                           "intermediate.dense"))]
    ffn_out = [n for n in accurate if ".output.dense" in n and "attention" not in n]
    assert runtime and ffn_out and len(runtime) == 5 * len(ffn_out)
    for name in runtime:  # activations straight in, weights int8
        assert not accurate[name][0].startswith("FakeQuantize") and accurate[name][1] == "Constant:i8", (name, accurate[name])
    for name in ffn_out:
        assert accurate[name][0].startswith("FakeQuantize"), (name, accurate[name])
    assert all(kinds[0].startswith("FakeQuantize") for kinds in static.values()), static
    assert tiny_ov.backend.compiled.get_property("DYNAMIC_QUANTIZATION_GROUP_SIZE") == DYNAMIC_GROUP
    assert fast.backend.compiled.get_property("DYNAMIC_QUANTIZATION_GROUP_SIZE") == 0
    ref = tiny_fp32.encode(TEXTS).vectors
    assert ((fast.encode(TEXTS).vectors * ref).sum(1) >= 0.99).all()


def test_http_embeddings_through_openvino(tiny_ov, tiny_fp32, tiny_model_dir, ov_cache):
    from gte_ui.server import create_app
    from gte_ui.service.service import EmbeddingService

    settings = ov_settings(ov_cache, model=str(tiny_model_dir))
    with LiveServer(create_app(EmbeddingService(tiny_ov, settings), settings)) as server:
        r = requests.post(server.url + "/v1/embeddings", json={"input": TEXTS[:3]}, timeout=30)
        assert r.status_code == 200, r.text
        got = np.array([row["embedding"] for row in r.json()["data"]])
        health = requests.get(server.url + "/health", timeout=30).json()
    ref = tiny_fp32.encode(TEXTS[:3]).vectors
    assert ((got * ref).sum(1) >= 0.995).all()
    assert health["models"][0]["backend"] == "openvino-int8-accurate"


def test_bert_cross_encoder_reranks_through_openvino(tmp_path_factory, ov_cache):
    """Tiny random cross-encoder (segment ids, fp32 head). Bound 0.05 in sigmoid score as for the
    ONNX path: the toy models' wide random initialisation makes activations far rougher than a
    trained model's (measured max 0.040 here, ONNX accurate 0.017); the realistic figure is
    test_minilm_cross_encoder_within_the_measured_bound's."""
    from gte_ui.testing.toymodel import build_random_cross_encoder

    folder = build_random_cross_encoder(tmp_path_factory.mktemp("ce"), "tiny-bert", seed=1)
    fp32 = Reranker.load(Settings(reranker=str(folder), device="cpu", reranker_precision="fp32"))
    int8 = Reranker.load(Settings(reranker=str(folder), device="cpu", reranker_precision="int8",
                                  int8_engine="openvino", export_cache=str(ov_cache)))
    assert int8.info.backend == "openvino-int8-accurate"
    assert "token_type_ids" in int8.scorer.backend._inputs  # the document's segment ids reach the model
    pairs = [(QUERY, d) for d in DOCS]
    ref, got = sigmoid(fp32.score(pairs).vectors[:, 0]), sigmoid(int8.score(pairs).vectors[:, 0])
    assert np.abs(ref - got).max() <= 0.05, (ref, got)


def test_the_outlier_split_is_exact_before_quantisation(minilm_dir):
    """The fp32 model with each FFN's outlier channels moved to the side branch computes the same
    hidden states (the split only changes what the int8 GEMMs see), and the int8 GEMMs' inputs no
    longer hold the largest activations."""
    import torch
    from transformers import AutoModel

    from gte_ui.engine.backends.openvino_int8 import (
        OUTLIER_CHANNELS,
        OutlierSplitOutput,
        split_ffn_outliers,
    )
    from gte_ui.engine.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(minilm_dir)
    batch = tokenizer(["A man is playing a guitar.", "Stock markets fell sharply today after the report."],
                      padding=True, return_tensors="pt")
    whole = AutoModel.from_pretrained(str(minilm_dir)).eval()
    split = AutoModel.from_pretrained(str(minilm_dir)).eval()
    seen = {}
    hook = whole.encoder.layer[3].output.dense.register_forward_hook(lambda m, i, o: seen.__setitem__("whole", i[0]))
    with torch.no_grad():
        assert split_ffn_outliers(split, tokenizer) == len(split.encoder.layer)
        ref = whole(**batch).last_hidden_state
        split.encoder.layer[3].output.dense.register_forward_hook(lambda m, i, o: seen.__setitem__("split", i[0]))
        got = split(**batch).last_hidden_state
    hook.remove()
    layer = split.encoder.layer[3].output
    assert isinstance(layer, OutlierSplitOutput) and layer.outlier_side_in.out_features == OUTLIER_CHANNELS
    torch.testing.assert_close(got, ref, atol=1e-4, rtol=1e-4)
    assert seen["split"].abs().max() < seen["whole"].abs().max()  # the int8 GEMM's input lost its outliers


@pytest.mark.slow
@pytest.mark.parametrize("mode, bound", [("accurate", 0.0032), ("fast", 0.006)])
def test_minilm_on_stsb_within_the_measured_bound(minilm_dir, stsb_en, ov_cache, mode, bound):
    """The real MiniLM on 300 STS-B pairs. accurate: inside the default engine's 0.003 bound
    (measured 0.0028; the margin covers another CPU's kernels); fast: the accuracy it trades for
    speed (measured 0.0040, 0.0069 before the outlier split)."""
    from scipy.stats import spearmanr

    n = 300
    a, b, labels = stsb_en.a[:n], stsb_en.b[:n], stsb_en.labels[:n]
    fp32 = Encoder.load(Settings(model=str(minilm_dir), device="cpu", precision="fp32"))
    ov = Encoder.load(ov_settings(ov_cache, model=str(minilm_dir), int8_mode=mode))
    assert ov.info.backend == f"openvino-int8-{mode}" and ov.info.pooling == "mean"
    ref = (fp32.encode(a).vectors * fp32.encode(b).vectors).sum(1)
    got = (ov.encode(a).vectors * ov.encode(b).vectors).sum(1)
    delta = np.abs(got - ref)
    rho_ref, rho = spearmanr(ref, labels)[0], spearmanr(got, labels)[0]
    print(f"\nopenvino int8 {mode} MiniLM: mean |dcos| {delta.mean():.4f}, max {delta.max():.4f}, "
          f"Spearman {rho:.4f} vs fp32 {rho_ref:.4f}")
    assert delta.mean() <= bound and abs(rho - rho_ref) <= 0.01


@pytest.mark.slow
def test_minilm_cross_encoder_within_the_measured_bound(minilm_dir, stsb_en, ov_cache, tmp_path):
    """MiniLM's real encoder + a seeded random one-logit head scaled to spread like a trained
    reranker's (as test_rerank.test_int8_on_minilm_cross_encoder), 200 STS-B pairs."""
    from gte_ui.testing.toymodel import build_minilm_cross_encoder

    folder = build_minilm_cross_encoder(tmp_path / "minilm-ce", minilm_dir, seed=0, head_scale=100.0)
    pairs = list(zip(stsb_en.a[:200], stsb_en.b[:200]))
    fp32 = Reranker.load(Settings(reranker=str(folder), device="cpu", reranker_precision="fp32")).score(pairs)
    int8 = Reranker.load(Settings(reranker=str(folder), device="cpu", reranker_precision="int8",
                                  int8_engine="openvino", export_cache=str(ov_cache)))
    assert int8.info.backend == "openvino-int8-accurate"
    ref, got = fp32.vectors[:, 0], int8.score(pairs).vectors[:, 0]
    delta = np.abs(sigmoid(ref) - sigmoid(got))
    print(f"\nopenvino int8 MiniLM cross-encoder: mean |dscore| {delta.mean():.4f}, max {delta.max():.4f}, "
          f"logit noise / spread {np.abs(ref - got).mean() / np.std(ref):.3f}")
    assert np.std(sigmoid(ref)) > 0.1  # the scores really spread
    assert delta.mean() <= 0.035 and np.abs(ref - got).mean() <= 0.12 * np.std(ref)  # measured 0.011, 0.041 (static: 0.017)


def test_a_decoder_runs_eager_int8_and_says_why(tmp_path):
    """Qwen-style decoders have no OpenVINO export here: eager W8A8, and /health's note says so."""
    from gte_ui.testing.decoder_model import build_random_decoder

    folder = build_random_decoder(tmp_path / "Qwen3-Embedding-tiny", "qwen3", seed=1)
    fp32 = Encoder.load(Settings(model=str(folder), device="cpu", precision="fp32"))
    int8 = Encoder.load(ov_settings(tmp_path / "cache", model=str(folder)))
    assert int8.info.backend == "torch-int8-accurate"
    assert "the OpenVINO int8 export covers BERT-family encoders only" in int8.info.backend_note
    assert not (tmp_path / "cache").exists()  # nothing was exported
    cos = (int8.encode(TEXTS[:3]).vectors * fp32.encode(TEXTS[:3]).vectors).sum(1)
    assert cos.min() > 0.98
