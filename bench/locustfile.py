"""Locust users for bench/loadtest.py: a mix of pairwise, ranking, vector and OpenAI calls, and
the articles' inference-suite client (``POST /embed {"texts": ["…"] * 4}``).

Every answer is compared with the expected values (computed by the same engine before the run)
that loadtest.py writes to the JSON file named by GTE_LOAD_EXPECTED; a wrong answer is recorded
as a failure with the message "wrong answer", so it is never mistaken for a success.
"""

from __future__ import annotations

import json
import os
import random

from locust import HttpUser, between, task

EXPECTED = json.loads(open(os.environ["GTE_LOAD_EXPECTED"], encoding="utf-8").read())
SOURCES = EXPECTED["sources"]
CANDIDATES = EXPECTED["candidates"]
TOL = float(os.environ.get("GTE_LOAD_TOLERANCE", "1e-4"))


VEC = EXPECTED["vec"]


def dot(a: str, b: str) -> float:
    return sum(x * y for x, y in zip(VEC[a], VEC[b]))


def close(a, b) -> bool:
    return len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) < TOL


class Client(HttpUser):
    wait_time = between(0.0, 0.05)

    @task(3)
    def pairwise(self) -> None:
        s, c = random.choice(SOURCES), random.choice(CANDIDATES)
        with self.client.post("/similarity", json={"sentence_a": s, "sentence_b": c},
                              name="POST /similarity (pair)", catch_response=True) as r:
            if r.ok and abs(r.json()["similarity"] - dot(s, c)) >= TOL:
                r.failure("wrong answer")

    @task(2)
    def ranking(self) -> None:
        s = random.choice(SOURCES)
        with self.client.post("/api/predict", json={"data": [s, "\n".join(CANDIDATES)]},
                              name="POST /api/predict (rank)", catch_response=True) as r:
            if r.ok and not close(r.json()["data"], [dot(s, c) for c in CANDIDATES]):
                r.failure("wrong answer")

    @task(2)
    def vector(self) -> None:
        s = random.choice(SOURCES)
        with self.client.post("/api/predict", json={"data": [s, "", False, False, False, False]},
                              name="POST /api/predict (vector)", catch_response=True) as r:
            if r.ok and not close(r.json()["data"], VEC[s]):
                r.failure("wrong answer")

    @task(2)
    def openai(self) -> None:
        batch = random.sample(SOURCES, 3)
        with self.client.post("/v1/embeddings", json={"input": batch, "model": "gte"},
                              name="POST /v1/embeddings", catch_response=True) as r:
            if r.ok:
                data = r.json()["data"]
                if len(data) != 3 or not all(close(d["embedding"], VEC[batch[d["index"]]]) for d in data):
                    r.failure("wrong answer")

    @task(2)
    def embed_texts(self) -> None:
        """The articles' locust file: the same text four times to /embed, a list of vectors back."""
        s = random.choice(SOURCES)
        with self.client.post("/embed", json={"texts": [s] * 4}, name="POST /embed (texts)",
                              catch_response=True) as r:
            if r.ok:
                vectors = r.json()
                if len(vectors) != 4 or not all(close(v, VEC[s]) for v in vectors):
                    r.failure("wrong answer")
