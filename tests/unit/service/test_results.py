"""The results' own rules: a reranked pair over the limit refused on request (TEI's truncate:
false), and the health result's one serialisation."""

from __future__ import annotations

import pytest

from gte_ui.core.errors import GteError
from gte_ui.service.results import HealthResult, LoadedModel


def test_refuse_truncated_names_the_first_document_over_the_limit(tiny_service):
    long_doc = "电池续航" * tiny_service.max_length
    r = tiny_service.rerank("电池", ["短", long_doc, long_doc])
    assert [row.truncated for row in sorted(r.rows, key=lambda x: x.index)] == [False, True, True]
    with pytest.raises(GteError) as err:
        r.refuse_truncated("documents")
    assert err.value.status_code == 413 and "documents[1] with the query has" in err.value.message
    tiny_service.rerank("电池", ["短", "也短"]).refuse_truncated()  # nothing over: no error


def test_health_result_serialises_facts_counters_and_models_once():
    model = LoadedModel(name="m", dim=8, max_length=16, device="cpu", precision="fp32", backend="torch",
                        memory_estimate=None, default=True)
    body = HealthResult(facts={"model": "m", "dim": 8}, counters={"uptime_s": 1.0}, models=[model]).to_dict()
    assert body == {"status": "ok", "ready": True, "model": "m", "dim": 8, "uptime_s": 1.0,
                    "models": [{"name": "m", "dim": 8, "max_length": 16, "device": "cpu", "precision": "fp32",
                                "backend": "torch", "memory_estimate": None, "default": True}]}
