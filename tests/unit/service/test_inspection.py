"""Unknown-token inspection: the one warning, over the tokens the model reads."""

from __future__ import annotations

from gte_ui.engine.inspection import UnknownTokens
from gte_ui.service import inspection


def test_report_flags_texts_over_the_threshold_naming_them_and_the_characters():
    report = [UnknownTokens(4, 0, ()), UnknownTokens(4, 2, ("🍎", "☃")), UnknownTokens(0, 0, ())]
    ratios, warnings = inspection.unknown_report(report, "tiny", 0.1, [("甲", "A"), ("乙", "B"), ("丙", "C")])
    assert ratios == [0.0, 0.5, 0.0] and len(warnings) == 1
    assert "B: 50%" in warnings[0] and "🍎 ☃" in warnings[0] and "tiny" in warnings[0]
    assert inspection.unknown_report(report, "tiny", 0.6)[1] == []


def test_texts_report_reads_what_the_model_reads(tiny_service):
    ratios, warnings = inspection.report_unknown_texts(tiny_service, ["苹果", "🍎🍎🍎"])
    assert ratios == [0.0, 1.0] and "text 2" in warnings[0]
    tally = tiny_service.unknown_tally()
    tally.add(["苹果", "🍎🍎🍎"])
    assert tally.share == 0.3333 and tally.warnings()  # 2 tokens of 苹果, one [UNK] for the run of 🍎
