"""``habitus bench base``: a base TransAE read as live scoring reads it, on its dataset and other homes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from habitus_engine.datasets import RawSequence, load_vocabulary, read_raw_sequences
from habitus_engine.models import SASRec, TransAE
from habitus_tools.bench_base import (
    ActionMap,
    calibrated,
    calibration_draws,
    flagged_any_prefix,
    next_action,
    retimed,
)
from habitus_tools.bench_denoise import load_home
from habitus_tools.cli import main
from tests.paths import PROJECT_ROOT, SMARTTHINGS

FR, SP, AN = SMARTTHINGS / "fr", SMARTTHINGS / "sp", SMARTTHINGS / "an"
BASE = PROJECT_ROOT / "custom_components" / "habitus" / "model_assets" / "transae_fr.npz"
pytestmark = pytest.mark.skipif(not SP.exists(), reason="shared SmartThings datasets not found")


@pytest.fixture(scope="module")
def base() -> TransAE:
    return TransAE.load(BASE)


def test_a_sequence_counts_as_flagged_when_any_prefix_crosses_the_threshold() -> None:
    base, fr = TransAE.load(BASE), load_vocabulary(FR)
    names = [
        "WaterValve:valve open",
        "Siren:alarm both",
        "AirConditioner:switch on",
        "AirConditioner:switch off",
    ]
    seq = [(2, 1, fr.devices.index(a.split(":")[0]), fr.actions.index(a)) for a in names]
    prefix_scores = base.score([seq[:n] for n in range(1, len(seq) + 1)], backend="numpy")
    base.threshold_ = float((prefix_scores.max() + prefix_scores[-1]) / 2)  # only an early prefix crosses
    assert not base.predict([seq], backend="numpy")[0]
    assert flagged_any_prefix(base, [seq, seq[-1:]]).tolist() == [True, False]
    assert retimed([seq], 6, 7) == [[(6, 7, b[2], b[3]) for b in seq]]


def test_another_home_maps_by_action_name_and_unmapped_behaviours_are_left_out(base: TransAE) -> None:
    sp, fr = load_vocabulary(SP), load_vocabulary(FR)
    to_fr = ActionMap(base, sp.actions)
    on = sp.actions.index("Light:switch on")
    unknown = next(i for i, a in enumerate(sp.actions) if a not in fr.actions)
    mapped = to_fr([[(0, 3, 5, on), (0, 3, 5, unknown)], [(1, 2, 0, unknown)]])
    assert mapped == [[(0, 3, fr.devices.index("Light"), fr.actions.index("Light:switch on"))]]
    assert to_fr.coverage([[(0, 3, 5, on), (0, 3, 5, unknown)]]) == 0.5


def test_run_writes_shares_and_aucs_and_rejects_a_home_with_other_names(tmp_path: Path) -> None:
    out = tmp_path / "base.json"
    flags = ["--dataset", str(FR), "--limit", "30", "--json", str(out)]
    assert main(["bench", "base", str(BASE), "--homes", str(SP), *flags]) == 0
    figures = json.loads(out.read_text(encoding="utf-8"))[str(BASE)]
    assert figures["fr"]["sequences"] == 30 and figures["sp"]["injected_normal"] > 0
    shares = [v for name in ("fr", "sp") for k, v in figures[name].items() if "flagged" in k or "auc" in k]
    assert shares and all(0.0 <= v <= 1.0 for v in shares)
    assert main(["bench", "base", str(BASE), "--homes", str(AN), *flags]) == 2  # AN's names are lowercase


def test_calibrate_takes_the_percentile_of_the_homes_first_training_sequences(
    base: TransAE, tmp_path: Path
) -> None:
    home = load_home(SP, 60)
    to_fr = ActionMap(base, load_vocabulary(SP).actions)
    first = to_fr(home.train)[:10]  # draw 0: the home's first 10 mapped trn sequences, in file order
    assert calibration_draws(to_fr(home.train), 10, 3)[0] == first
    figures = calibrated(base, home, to_fr, 10, draws=1)
    threshold = float(np.percentile(base.score(first, backend="numpy"), 95.0))  # TransAE's own rule
    assert figures["threshold"] == pytest.approx(threshold)
    normal = base.score(to_fr(home.normal), backend="numpy")
    assert figures["flagged_normal"] == pytest.approx(float((normal > threshold).mean()))

    # the hub's rule now: the percentile of each calibration sequence's highest prefix score, and the
    # shares counted as live scoring raises an anomaly (any prefix above the threshold)
    def prefix_max(sequences: list[RawSequence]) -> np.ndarray:
        return np.array(
            [base.score([s[:n] for n in range(1, len(s) + 1)], backend="numpy").max() for s in sequences]
        )

    live = float(np.percentile(prefix_max(first), 95.0))
    assert figures["live_threshold"] == pytest.approx(live) and live >= figures["threshold"]
    normal_any = prefix_max(to_fr(home.normal))
    assert figures["flagged_normal_any_prefix"] == pytest.approx(float((normal_any > threshold).mean()))
    assert figures["live_flagged_normal_any_prefix"] == pytest.approx(float((normal_any > live).mean()))
    device_any = prefix_max(to_fr(home.anomalies["device"]))
    assert figures["live_flagged_device_any_prefix"] == pytest.approx(float((device_any > live).mean()))

    out = tmp_path / "calibrated.json"
    flags = ["--dataset", str(FR), "--homes", str(SP), "--limit", "60", "--json", str(out)]
    assert main(["bench", "base", str(BASE), *flags, "--calibrate", "10", "20", "--draws", "3"]) == 0
    sp = json.loads(out.read_text(encoding="utf-8"))[str(BASE)]["sp"]
    assert sp["calibrated_10"]["draws"] == 3 and "calibrated_20" in sp
    assert (
        sp["calibrated_10"]["threshold_min"]
        <= sp["calibrated_10"]["threshold"]
        <= sp["calibrated_10"]["threshold_max"]
    )
    assert main(["bench", "base", str(BASE), *flags, "--calibrate", "0"]) == 2
    assert main(["bench", "base", str(BASE), *flags, "--calibrate", "5000"]) == 2  # more than the home has


def test_next_action_counts_hits_over_the_whole_vocabulary_and_over_the_actions_the_home_has_done(
    tmp_path: Path,
) -> None:
    sasrec_file = BASE.with_name("sasrec_fr.npz")
    sasrec = SASRec.load(sasrec_file)
    figures = next_action(sasrec, SP, 80)
    to_fr = ActionMap(sasrec, load_vocabulary(SP).actions)
    done = {b[3] for s in to_fr(read_raw_sequences(SP / "raw" / "trn.jsonl", 80)) for b in s}
    cases = [s for s in to_fr(read_raw_sequences(SP / "raw" / "vld.jsonl", 80)) if len(s) >= 2]
    assert figures["cases"] == len(cases) and figures["actions_done"] == len(done)
    hits = home_hits = foreign = 0
    for seq in cases:  # by hand, through the model's own ranking
        ranked = [a for a, _ in sasrec.recommend(seq[:-1], len(load_vocabulary(FR).actions), "numpy")]
        allowed = done | {b[3] for b in seq[:-1]}
        hits += seq[-1][3] in ranked[:5]
        home_hits += seq[-1][3] in [a for a in ranked if a in allowed][:5]
        foreign += sum(a not in allowed for a in ranked[:5])
    assert figures["hr@5"] == pytest.approx(hits / len(cases))
    assert figures["home_hr@5"] == pytest.approx(home_hits / len(cases))
    assert figures["never_done_in_top5_mean"] == pytest.approx(foreign / len(cases)) and foreign > 0
    assert figures["home_hr@10"] >= figures["home_hr@5"]

    out = tmp_path / "next.json"
    flags = ["--dataset", str(FR), "--homes", str(SP), "--limit", "30", "--json", str(out)]
    assert main(["bench", "base", str(BASE), *flags, "--sasrec", str(sasrec_file)]) == 0
    assert "next_action" in json.loads(out.read_text(encoding="utf-8"))[str(sasrec_file)]["sp"]
