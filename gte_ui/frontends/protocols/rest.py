"""The project's own REST shapes, whose answers are the results' canonical ``to_dict()``:
``POST /v1/search`` (a corpus index's top-k) and ``POST /v1/map`` (the embedding map). A key
they do not define is a 422 naming it."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from gte_ui.frontends.protocols.common import STRICT, TextHandlingFields


class SearchRequest(TextHandlingFields):
    """``POST /v1/search``: an index's top-k for a query (docs/api.md, "Search")."""

    index: str = Field(description="an index in --index-dir (GET /v1/indexes lists them)")
    query: str
    top_k: int = Field(10, strict=True, description="hits, 1-100")
    rerank: bool = Field(False, strict=True, description="reorder the hits with the --reranker cross-encoder")
    highlight: bool = Field(False, strict=True, description="each hit's best-matching tokens")
    model: str | None = Field(None, description="must be the model that built the index (409 if not)")


class MapRequest(BaseModel):
    """``POST /v1/map``: the embedding map (向量地图) of ``texts``, ``queries`` drawn over them.
    More than ``--map-max-points`` texts are sampled, and the answer says so."""

    model_config = STRICT
    texts: list[str] | None = Field(None, description="the corpus, at least 3 texts (or `index`)")
    index: str | None = Field(None, description="instead of texts: a corpus index's name (`GET /v1/indexes`), "
                              "mapped from its stored vectors with its own model")
    labels: list[str] | None = Field(None, description="one per text: colour by these instead of k-means clusters")
    queries: list[str] = Field(default_factory=list, description="drawn as stars over the corpus (at most 200)")
    method: Literal["pca", "umap"] = "pca"
    clusters: int = Field(8, ge=1, le=50, description="k-means clusters when no labels are given")
    model: str | None = None
