"""The command line's output shapes, built from the service's results.

Each subcommand prints one :class:`CliOutput`: ``stdout`` is its shape (tab-separated lines or one
JSON document: what scripts read), ``notes`` go to stderr before it (warnings, what scored, files a
note is about), so stdout keeps its shape whatever the service has to say. The adapters here are
the only place these shapes are written; ``rank --json`` is :func:`rank_json`, the canonical
ranking rows as a bare list (docs/api.md, "Which adapter makes which shape").

Only the standard library at module level: ``--help`` and ``health`` stay instant. The evaluation
reports' tables (:func:`gte_ui.evaluation.metrics.summary_text`,
:func:`gte_ui.evaluation.retrieval.summary_text`) are imported where used.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from gte_ui.core.pairs import LabelledPairs
    from gte_ui.evaluation.jobs import RerankJob
    from gte_ui.evaluation.metrics import EvalResult
    from gte_ui.evaluation.retrieval import RetrievalReport
    from gte_ui.service.corpus import EmbedReport, IndexReport
    from gte_ui.service.results import PairResult, RankResult, RerankResult
    from gte_ui.service.search import SearchResult


@dataclass(frozen=True)
class CliOutput:
    """What one subcommand prints: ``notes`` on stderr (in order), then ``stdout``."""

    stdout: str
    notes: tuple[str, ...] = ()


def warning_lines(warnings: Sequence[str]) -> tuple[str, ...]:
    """The service's warnings (e.g. text the vocabulary cannot read), one ``warning: …`` line each."""
    return tuple(f"warning: {w}" for w in warnings)


def _json(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def health_output(ok: bool, said: str) -> CliOutput:
    """``health``: ``healthy: URL: ok`` on stdout, or ``unhealthy: …`` on stderr (Docker logs both)."""
    return CliOutput(f"healthy: {said}") if ok else CliOutput("", (f"unhealthy: {said}",))


# --------------------------------------------------------------------------- similarity, rank, rerank
def pair_output(result: PairResult) -> CliOutput:
    """``similarity A B``: the pair result's canonical JSON (its warnings are inside it)."""
    return CliOutput(_json(result.to_dict()))


def rank_json(result: RankResult) -> str:
    """``rank --json``: the canonical ranking rows (``RankResult.rows``), best first, as a bare
    list — not the REST answer's object around them."""
    return _json([row.to_dict() for row in result.rows])


def rank_text(result: RankResult) -> str:
    """``rank``: one ``rank<TAB>score<TAB>verdict<TAB>text`` line per candidate, best first."""
    return "\n".join(f"{row.rank}\t{row.score:.4f}\t{row.verdict.zh}\t{row.text}" for row in result.rows)


def rank_output(result: RankResult, as_json: bool) -> CliOutput:
    prompt = (f"prompt before the source: {result.prompt!r}",) if result.prompt else ()
    return CliOutput(rank_json(result) if as_json else rank_text(result), warning_lines(result.warnings) + prompt)


def rerank_output(result: RerankResult, as_json: bool) -> CliOutput:
    """``rerank``: the canonical JSON, or ``rank<TAB>score<TAB>text`` lines with the method and
    model that scored on stderr."""
    notes = warning_lines(result.warnings)
    if as_json:
        return CliOutput(_json(result.to_dict()), notes)
    return CliOutput("\n".join(f"{row.rank}\t{row.score:.4f}\t{row.text}" for row in result.rows),
                     (*notes, f"# method: {result.method} ({result.model})"))


# --------------------------------------------------------------------------- corpus files and indexes
def embed_output(report: EmbedReport) -> CliOutput:
    """``embed``: the run's report as one JSON line; a .npy's missing blank rows are named."""
    notes: tuple[str, ...] = ()
    if report.skipped_blank and Path(report.out).suffix.lower() == ".npy":
        notes = ((f"note: {report.skipped_blank} blank lines have no vector, so .npy rows follow the "
                  "non-blank texts only; write .csv or .parquet to keep each text next to its vector"),)
    return CliOutput(_json(asdict(report)), notes + warning_lines(report.warnings))


def index_build_output(report: IndexReport) -> CliOutput:
    return CliOutput(_json(asdict(report)))


def index_list_output(rows: Sequence[Mapping[str, Any]], root: Path, as_json: bool) -> CliOutput:
    """``index list``: the manifests' public fields, one tab-separated line (or JSON object) each."""
    if as_json:
        return CliOutput(_json(list(rows)))
    lines = "\n".join(f"{m['name']}\t{m['rows']}\t{m['dim']}\t{m['store']}\t{m['model']}\t{m['created']}"
                      for m in rows)
    return CliOutput(lines, () if rows else (f"no indexes in {root}",))


def index_info_output(manifest: Mapping[str, Any], disk_bytes: int) -> CliOutput:
    return CliOutput(_json({**manifest, "disk_bytes": disk_bytes}, indent=1))


def search_output(result: SearchResult, as_json: bool) -> CliOutput:
    """``search``: the /v1/search answer's JSON, or ``rank score verdict id [moved rerank_score] text``
    lines with the index, model and timings on stderr."""
    if as_json:
        return CliOutput(_json(result.to_dict()))
    head = (f"# {result.index}: {result.rows} documents, {result.store}; model {result.model}"
            + (f", reranked by {result.reranker}" if result.reranker else "")
            + f"; embed {result.embed_ms:.1f} ms, search {result.search_ms:.1f} ms")
    lines = []
    for h in result.hits:
        moved = f"\t{h.moved}\t{h.rerank_score:.4f}" if h.rerank_score is not None else ""
        lines.append(f"{h.rank}\t{h.score:.4f}\t{h.verdict.zh}\t{h.id}{moved}\t{h.text}")
    return CliOutput("\n".join(lines), (*warning_lines(result.warnings), head))


# --------------------------------------------------------------------------- evaluate
def evaluate_pairs_output(result: EvalResult, pairs: LabelledPairs, as_json: bool) -> CliOutput:
    """``evaluate`` on labelled pairs: every metric as JSON, or the compact table (which carries
    the warnings itself)."""
    if as_json:
        return CliOutput(_json(result.to_dict(), indent=2), warning_lines(result.warnings))
    # the evaluation's report table (numpy behind it): only once a model has run
    from gte_ui.evaluation.metrics import summary_text

    return CliOutput(summary_text(result, pairs.name))


def evaluate_rerank_output(job: RerankJob) -> CliOutput:
    """``evaluate --task rerank``: each stage's metrics (embedding alone, + reranker) as JSON."""
    return CliOutput(_json([r.metrics() for r in job.results], indent=2),
                     warning_lines([w for r in job.results for w in r.warnings]))


def evaluate_retrieval_output(report: RetrievalReport, as_json: bool) -> CliOutput:
    """``evaluate --task retrieval``: the report's JSON, or its table (models × stages × metrics)."""
    if as_json:
        return CliOutput(_json(report.to_dict(), indent=2), warning_lines(report.warnings))
    # the evaluation's report table (numpy behind it): only once a model has run
    from gte_ui.evaluation.retrieval import summary_text

    return CliOutput(summary_text(report), warning_lines(report.warnings))


def files_written(paths: Sequence[Path | str]) -> CliOutput:
    """``wrote PATH`` on stderr for each file a command wrote: stdout keeps its shape."""
    return CliOutput("", tuple(f"wrote {p}" for p in paths))
