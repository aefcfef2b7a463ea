"""The named Gradio endpoints' wire shapes (``gradio_client``, the page's "Use via API" panel).

Every endpoint answers its result's canonical ``to_dict()`` except ``/rank``, whose documented
answer is the ranking's rows themselves (a list), each carrying the prompt used.
"""

from __future__ import annotations

from typing import Any

from gte_ui.service.results import RankResult


def rank_rows(r: RankResult) -> list[dict[str, Any]]:
    """Gradio ``/rank``: the rows best first (``RankRow.to_dict()``), each with the ``prompt`` put
    before the source (None for models without prompts)."""
    return [{**row.to_dict(), "prompt": r.prompt} for row in r.rows]
