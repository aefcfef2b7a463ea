"""``Served`` (gte_ui/service/served.py): the parts of one loaded model that the capability modules
read. The service has each part, of its declared type; the capability modules read no part it
does not declare and never import the facade; and the cache key prefixes it declares change with
everything that changes a vector (or a reranker's score), and only with that."""

from __future__ import annotations

import ast
import shutil
import types
import typing
from collections.abc import Callable
from pathlib import Path

import pytest

import gte_ui
from gte_ui.core.settings import Settings
from gte_ui.engine.encoder import Encoder
from gte_ui.service.served import Served
from gte_ui.service.service import EmbeddingService

PARTS = typing.get_type_hints(Served)
PACKAGE = Path(gte_ui.__file__).parent
#: the modules that take a model as Served (served.py's docstring names them) and the registry
READERS = {"align", "compare", "embed", "inspection", "matrix", "pair", "rank", "registry", "rerank"}


def conforms(value, hint) -> bool:
    """Whether ``value`` is what the annotation ``hint`` says (Any: anything; a union: one of them)."""
    if hint is typing.Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(conforms(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if typing.get_origin(hint) is Callable:
        return callable(value)
    return isinstance(value, hint)


@pytest.mark.parametrize("which", ["tiny_service", "tiny_reranking_service"])
def test_the_service_has_every_part_of_its_declared_type(which, request):
    service = request.getfixturevalue(which)
    wrong = {name: type(getattr(service, name, None)).__name__ for name, hint in PARTS.items()
             if not hasattr(service, name) or not conforms(getattr(service, name), hint)}
    assert wrong == {}
    assert service.runner == service.encoder.encode  # no batcher: the encoder itself runs the misses
    assert (service.reranker is None) == (service.rerank_runner is None)


def served_reads() -> dict[str, set[str]]:
    """``module: {part}`` for every ``x.part`` read of a parameter annotated Served (or of a loop
    variable over a parameter annotated ``Sequence[Served]`` and the like) in gte_ui/service/."""
    reads: dict[str, set[str]] = {}
    for path in sorted((PACKAGE / "service").glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            args = [a for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs) if a.annotation is not None]
            one = {a.arg for a in args if ast.unparse(a.annotation) in ("Served", "Served | None")}
            many = {a.arg for a in args if "Served" in ast.unparse(a.annotation)} - one
            one |= {n.target.id for n in ast.walk(fn) if isinstance(n, (ast.For, ast.comprehension))
                    and isinstance(n.iter, ast.Name) and n.iter.id in many and isinstance(n.target, ast.Name)}
            for node in ast.walk(fn):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in one:
                    reads.setdefault(path.stem, set()).add(node.attr)
    return reads


def test_the_capability_modules_read_only_the_parts_served_declares():
    """A part read but not declared would type-check nowhere and break any other Served (Ray
    Serve's replica, a test double) at run time."""
    reads = served_reads()
    assert READERS <= set(reads)  # the scan sees the readers: it cannot pass by finding nothing
    undeclared = {module: sorted(parts - set(PARTS)) for module, parts in reads.items() if parts - set(PARTS)}
    assert undeclared == {}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module:
            names |= {n.module} | {f"{n.module}.{a.name}" for a in n.names}
    return names


def test_no_module_that_takes_served_imports_the_facade():
    """Served exists so that the capability modules need not import EmbeddingService (no cycle)."""
    takers = {p.stem: imported_modules(p) for p in sorted((PACKAGE / "service").glob("*.py"))
              if "gte_ui.service.served.Served" in imported_modules(p)}
    assert READERS <= set(takers)
    assert {m for m, names in takers.items() if "gte_ui.service.service" in names} == set()


def service_of(model: Path, **settings) -> EmbeddingService:
    s = Settings(**{"model": str(model), "device": "cpu", "precision": "fp32", **settings})
    return EmbeddingService(Encoder.load(s), s)


def test_the_vector_prefix_names_the_model_by_content_and_changes_with_what_changes_a_vector(
        tiny_service, tiny_model_dir, tmp_path):
    copy = shutil.copytree(tiny_model_dir, tmp_path / "elsewhere")  # the same model in another folder
    assert service_of(copy).vector_prefix == tiny_service.vector_prefix
    assert str(tiny_model_dir) not in tiny_service.vector_prefix  # a path would split a shared cache
    changed = {field: service_of(tiny_model_dir, **{field: value}).vector_prefix
               for field, value in (("max_length", 16), ("precision", "bf16"), ("revision", "v2"))}
    assert len({tiny_service.vector_prefix, *changed.values()}) == 4
    assert changed["max_length"].endswith("|16") and "|bf16|" in changed["precision"]
    # settings that change no vector share the prefix, so they share the cache
    assert service_of(tiny_model_dir, cache_size=7, max_texts=3).vector_prefix == tiny_service.vector_prefix


def test_the_score_prefix_is_empty_without_a_reranker_and_names_the_reranker_with_one(
        tiny_service, tiny_reranking_service):
    assert tiny_service.score_prefix == ""
    reranker = tiny_reranking_service.reranker
    prefix = tiny_reranking_service.score_prefix
    assert prefix.split("|")[:4] == [str(reranker.info.path), reranker.info.precision, reranker.info.backend,
                                     str(reranker.max_length)]
    assert prefix != tiny_reranking_service.vector_prefix
