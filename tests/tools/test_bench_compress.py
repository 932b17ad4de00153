"""``habitus bench compress`` end to end on the FR dataset (tokenizer of the real Gemma 3 270M)."""

from __future__ import annotations

import json
from pathlib import Path

from habitus_engine.prompt import PromptConfig
from habitus_tools.cli import main


def test_bench_compress_reports_every_shift(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "compress.json"
    code = main(["bench", "compress", "--json", str(out)])
    summary = json.loads(out.read_text(encoding="utf-8"))
    assert code in (0, 1)
    assert set(summary["results"]) == {"spring", "night", "multiple"}
    for result in summary["results"].values():
        for method in ("ssc", "ssc_budget", "sppc"):
            assert 0 < result[method]["kept"] < result["sequences"]
            assert 0 < result[method]["prompt_tokens"] < result["prompt_tokens_uncompressed"]
        assert 0.5 <= result["budget_alpha"] <= 1.0
        one_prompt = result["ssc_budget"]["prompt_tokens"] <= PromptConfig().prompt_budget
        assert one_prompt or result["budget_alpha"] == 0.5  # one prompt, unless even alpha 0.5 needs more
        assert result["paper"]["reduction_rate_pct"] < 0  # Table 9 prints reductions as negatives
    assert "winter->spring" in capsys.readouterr().out
