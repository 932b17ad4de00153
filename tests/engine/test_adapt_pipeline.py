"""The synthesis pipeline over a home (TSS, SSC, GSS hints, LLM, TOF) and the ``synthesize`` job.

The LLM is the real Gemma 3 270M in process (one prompt, a few dozen tokens: the CPU is shared). Two
small backends of this file's own stand in where a real model cannot be made to misbehave on demand:
``ScriptedBackend`` answers nonsense (so the parser's garbage path is exercised end to end) and
``StalledBackend`` never answers (so cancellation mid-request is). Both implement
``habitus_engine.llm.base.LLMBackend``; nothing inside the pipeline is patched.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from habitus_engine.adapt_pipeline import (
    LLMSettings,
    SynthesisCancelledError,
    SynthesisConfig,
    home_vocabulary,
    prepare,
    synthesize_raw,
)
from habitus_engine.datasets import load_vocabulary, read_sequences, to_behaviours
from habitus_engine.jobs import JobCancelledError, JobError, JobParamsError, run_job
from habitus_engine.llm.base import GenerationRequest, GenerationResult
from habitus_engine.llm.model_file import default_model_path, is_verified
from habitus_engine.llm.tokens import LlamaTokenCounter
from habitus_engine.prompt import PromptConfig, total_prompt_tokens
from habitus_engine.shifts import paper_shift, schedule_shift
from habitus_engine.synth_parse import DeviceDictionary
from tests.synthesis_home import ACTIONS, DAY_LONG, DEVICES, N_CTX, SHIFT, TINY, home, job_params, pairs_of


class ScriptedBackend:
    """An ``LLMBackend`` that answers the given texts in turn (here: nonsense a model might write)."""

    def __init__(self, answers: list[str]) -> None:
        self.answers = answers
        self.requests: list[GenerationRequest] = []

    @property
    def name(self) -> str:
        return "scripted"

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        self.requests.append(request)
        text = self.answers[(len(self.requests) - 1) % len(self.answers)]
        return GenerationResult(text, 100, len(text), 0.01, 0.01, "none", "stop")

    async def aclose(self) -> None:
        return None


class StalledBackend(ScriptedBackend):
    """An ``LLMBackend`` whose request never ends by itself (a hung server); records the cancel."""

    def __init__(self) -> None:
        super().__init__([""])
        self.cancelled = False

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        self.requests.append(request)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")


# -- the real Gemma 3 270M -------------------------------------------------------------------------


def test_gemma_writes_home_sequences_for_a_free_text_shift() -> None:
    raw = home()
    progress: list[tuple[float, str]] = []
    config = SynthesisConfig(SHIFT, LLMSettings(n_ctx=N_CTX), **TINY)  # type: ignore[arg-type]
    kept, _bp, report = synthesize_raw(
        raw, home_vocabulary(DEVICES, ACTIONS), config, progress=lambda f, m: progress.append((f, m))
    )
    assert report["prompts_sent"] == 1 and report["completion_tokens"] > 0
    assert report["backend"] == "default Gemma 3 270M" and report["tokens_per_second"] > 0
    assert report["sequences_original"] == len(raw) + DAY_LONG  # TSS cut the day-long ones at noon
    assert report["sequences_shown"] < report["sequences_original"]  # SSC dropped the repeated weeks
    assert 0 < report["prompt_tokens"] < report["prompt_tokens_uncompressed"]
    assert 0.0 <= report["pass_at_1"] <= 1.0
    assert len(kept) == report["sequences_kept"] <= report["sequences_generated"]
    stages = report["stage_seconds"]  # wall time per stage (issue 4 item 8)
    assert list(stages) == ["tss", "gss", "ssc", "prompts", "load_llm", "generate", "parse", "tof"]
    assert all(t >= 0 for t in stages.values()) and stages["generate"] > 0
    assert sum(stages.values()) <= report["wall_seconds"] + 0.1
    for seq in kept:  # the home's raw form, only pairs the home has
        assert 2 <= len(seq) <= 10
        assert all(0 <= day < 7 and 0 <= bucket < 8 for day, bucket, _dev, _act in seq)
    assert pairs_of(kept) <= pairs_of(raw)
    fractions = [f for f, _m in progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert "prompt 1/1" in [m for _f, m in progress]


# -- stages without an LLM -------------------------------------------------------------------------


def test_ablations_change_what_the_prompt_shows() -> None:
    raw = home()
    vocab = home_vocabulary(DEVICES, ACTIONS)
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    dictionary = DeviceDictionary.from_vocabulary(vocab, raw)

    def prepared(*ablate: str) -> Any:
        return prepare(behaviours, dictionary, SynthesisConfig(SHIFT, ablate=frozenset(ablate)))

    full, no_tss, no_ssc, no_gss = prepared(), prepared("tss"), prepared("ssc"), prepared("gss")
    assert len(full.behaviours) == len(raw) + DAY_LONG and len(no_tss.behaviours) == len(raw)
    assert len(full.shown) < len(full.behaviours) and no_ssc.shown == no_ssc.behaviours
    assert "Habits (the most common next codes after each code): {}" in no_gss.prompts[0].text
    assert "Habits (the most common next codes after each code): {}" not in full.prompts[0].text
    assert full.table.entries[0].device == "light.bedroom"  # the shift's device is offered first
    assert SHIFT.scene() in full.prompts[0].text


def test_graph_guided_decoding_puts_the_gss_graph_into_the_format_only_when_asked() -> None:
    raw = home()
    vocab = home_vocabulary(DEVICES, ACTIONS)
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    dictionary = DeviceDictionary.from_vocabulary(vocab, raw)
    plain = prepare(behaviours, dictionary, SynthesisConfig(SHIFT))
    graph = prepare(behaviours, dictionary, SynthesisConfig(SHIFT, graph_decoding=True))
    assert plain.prompts[0].format.successors == ()  # the default is unchanged
    fmt = graph.prompts[0].format
    assert len(fmt.successors) == len(graph.table) and any(fmt.successors)
    assert [p.text for p in graph.prompts] == [p.text for p in plain.prompts]  # same prompt
    no_gss = SynthesisConfig(SHIFT, graph_decoding=True, ablate=frozenset({"gss"}))
    assert prepare(behaviours, dictionary, no_gss).prompts[0].format.successors == ()
    with pytest.raises(ValueError, match="in-process"):
        SynthesisConfig(SHIFT, LLMSettings("server", server_url="http://127.0.0.1:1"), graph_decoding=True)


def test_soft_graph_guided_decoding_puts_the_graph_and_its_bonus_into_the_format() -> None:
    raw = home()
    vocab = home_vocabulary(DEVICES, ACTIONS)
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    dictionary = DeviceDictionary.from_vocabulary(vocab, raw)
    hard = prepare(behaviours, dictionary, SynthesisConfig(SHIFT, graph_decoding=True)).prompts[0].format
    soft = prepare(behaviours, dictionary, SynthesisConfig(SHIFT, graph_bonus=2.0)).prompts[0].format
    assert soft.graph_bonus == 2.0 and hard.graph_bonus == 0.0
    assert (soft.successors, soft.free_codes) == (hard.successors, hard.free_codes)  # the same graph
    no_gss = SynthesisConfig(SHIFT, graph_bonus=2.0, ablate=frozenset({"gss"}))
    assert prepare(behaviours, dictionary, no_gss).prompts[0].format.graph_bonus == 0.0
    with pytest.raises(ValueError, match="in-process"):
        SynthesisConfig(SHIFT, LLMSettings("server", server_url="http://127.0.0.1:1"), graph_bonus=2.0)
    with pytest.raises(ValueError, match="pick one"):
        SynthesisConfig(SHIFT, graph_decoding=True, graph_bonus=2.0)
    with pytest.raises(ValueError, match="nats"):
        SynthesisConfig(SHIFT, graph_bonus=-1.0)
    assert soft.successor_weights == ()  # flat by default
    config = SynthesisConfig(SHIFT, graph_bonus=2.0, graph_bonus_form="no_self_loops")
    no_self = prepare(behaviours, dictionary, config).prompts[0].format
    assert no_self.successors == soft.successors and any(no_self.successors)
    assert [[w == 0.0 for w in row] for row in no_self.successor_weights] == [
        [s == c for s in row] for c, row in enumerate(no_self.successors)
    ]  # no bonus on exactly the self-loops
    with pytest.raises(ValueError, match="graph_bonus_form"):
        SynthesisConfig(SHIFT, graph_bonus=2.0, graph_bonus_form="log")  # type: ignore[arg-type]


def test_weeks_default_to_what_the_request_budget_allows() -> None:
    raw = home()
    vocab = home_vocabulary(DEVICES, ACTIONS)
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    dictionary = DeviceDictionary.from_vocabulary(vocab, raw)
    auto = prepare(behaviours, dictionary, SynthesisConfig(SHIFT, max_prompts=3))
    # its 42 sequences exceed one prompt's 30; merging the identical ones (any alpha < 1) suffices
    assert auto.ssc_alpha == 0.99 and len(auto.shown) < len(auto.behaviours)
    assert auto.weeks == 3 and [(p.week, p.chunk) for p in auto.prompts] == [(0, 0), (1, 0), (2, 0)]
    two = prepare(behaviours, dictionary, SynthesisConfig(SHIFT, max_prompts=3, weeks=2))
    assert two.weeks == 2 and len(two.prompts) == 2


FR = Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "smartthings" / "fr"


def test_budget_rule_cuts_fr_spring_prompt_tokens_by_90_percent() -> None:
    """The issue's target on FR winter -> spring, counted with Gemma's own tokenizer: SSC's alpha by
    the context-budget rule (TransAE encoder) shows the compressed sequences in one prompt a week;
    "uncompressed" is the same layout carrying every TSS sequence."""
    vocab = load_vocabulary(FR)
    raw = [s.seq for s in read_sequences(FR / "paper" / "winter" / "split_trn.jsonl")]
    behaviours = [to_behaviours(seq, vocab) for seq in raw]
    dictionary = DeviceDictionary.from_vocabulary(vocab, raw)
    config = SynthesisConfig(paper_shift("spring"), weeks=2, max_new_tokens=256, max_codes=40)
    counter = LlamaTokenCounter(default_model_path())
    try:
        prepared = prepare(behaviours, dictionary, config, counter)
        fixed = prepare(behaviours, dictionary, replace(config, ssc_alpha=0.918), counter)
    finally:
        counter.close()
    assert prepared.ssc_encoder == "transae" and prepared.ssc_alpha is not None
    assert 0.5 <= prepared.ssc_alpha < fixed.ssc_alpha == 0.918
    assert [(p.week, p.chunk) for p in prepared.prompts] == [(0, 0), (1, 0)]  # one prompt a week
    assert all(p.n_tokens <= PromptConfig(n_ctx=config.llm.n_ctx, max_new_tokens=256).prompt_budget
               for p in prepared.prompts)  # fmt: skip
    sent = total_prompt_tokens(prepared.prompts)
    assert sent <= 0.1 * prepared.uncompressed_tokens
    assert fixed.uncompressed_tokens == prepared.uncompressed_tokens  # the same yardstick
    assert len(fixed.prompts) > len(prepared.prompts)  # alpha 0.918 needs several prompts a week
    habits = prepared.prompts[0].text.split("Habits")[1].split("\n")[0]
    assert '"?"' not in habits  # GSS hints name codes of the table only


def test_garbage_llm_output_counts_against_pass_at_1_and_never_raises() -> None:
    garbage = [
        "I am a helpful assistant! Here are sequences:\n1 2 3 4 5\n",
        '{"sequences": [[["a", 1, 2]]], "oops"',
        "9 99 99;0 07 01\n0 07 77;0 08 01\n\x00\ufffd;;;\n0 07",
    ]
    backend = ScriptedBackend(garbage)
    config = SynthesisConfig(SHIFT, max_prompts=3, weeks=3)
    kept, _bp, report = synthesize_raw(home(), home_vocabulary(DEVICES, ACTIONS), config, backend=backend)
    assert len(backend.requests) == 3
    assert kept == [] and report["pass_at_1"] == 0.0
    assert report["sequences_generated"] == report["sequences_kept"] == 0
    assert report["jsd_action"] is None and report["copy_rate"] is None
    assert report["backend"] == "scripted"


def test_a_valid_line_among_garbage_is_kept_but_the_response_fails_pass_at_1() -> None:
    backend = ScriptedBackend(["0 07 00;0 07 01\nnot a sequence\n"])
    config = SynthesisConfig(SHIFT, max_prompts=1, ablate=frozenset({"tof"}))
    kept, _bp, report = synthesize_raw(home(), home_vocabulary(DEVICES, ACTIONS), config, backend=backend)
    assert report["pass_at_1"] == 0.0 and report["sequences_generated"] == 1
    assert len(kept) == 1 and all(day == 0 and bucket == 2 for day, bucket, _d, _a in kept[0])


def test_requests_carry_the_configured_temperature_and_seeds_and_the_report_says_what_tof_did() -> None:
    lines = "".join(f"{day} 07 00;{day} 08 01\n" for day in range(4)) + "0 18 04;0 19 01;0 19 00\n"
    backend = ScriptedBackend([lines])
    config = SynthesisConfig(SHIFT, max_prompts=3, weeks=3, seed=11, temperature=1.3)
    kept, kept_bp, report = synthesize_raw(home(), home_vocabulary(DEVICES, ACTIONS), config, backend=backend)
    assert [(r.temperature, r.seed) for r in backend.requests] == [(1.3, 11), (1.3, 12), (1.3, 13)]
    assert (report["temperature"], report["seed"]) == (1.3, 11)
    tof = report["tof"]  # stage 1 (IQR) flags, stage 2 (utility) rescues some, deletes the rest
    assert set(tof) == {
        "stage1_flagged",
        "stage2_tried",
        "stage2_rescued",
        "stage2_next_action_rescued",
        "rejected",
    }
    assert tof["rejected"] == tof["stage1_flagged"] - tof["stage2_rescued"] >= 0
    assert tof["stage2_rescued"] >= tof["stage2_next_action_rescued"] >= 0
    assert report["tof_utility"] == "per_task"  # the default: one stage 2 per downstream task
    assert report["tof_bp"]["stage1_flagged"] == tof["stage1_flagged"]  # stage 1 shared
    assert report["sequences_kept_bp"] == report["sequences_generated"] - report["tof_bp"]["rejected"]
    assert len(kept_bp) == report["sequences_kept_bp"]  # SASRec's own set
    assert report["sequences_generated"] - report["sequences_kept"] == tof["rejected"] == 15 - len(kept)
    assert SynthesisConfig(SHIFT, ablate=frozenset({"tof"})).temperature == 0.7  # GenerationRequest's
    with pytest.raises(ValueError, match="temperature"):
        SynthesisConfig(SHIFT, temperature=-0.1)
    with pytest.raises(ValueError, match="tof_trials"):
        SynthesisConfig(SHIFT, tof_trials=-1)
    with pytest.raises(ValueError, match="tof_utility"):
        SynthesisConfig(SHIFT, tof_utility="bp")  # type: ignore[arg-type]


def test_schedule_shift_hours_bind_the_parser_too() -> None:
    night = schedule_shift()
    backend = ScriptedBackend(["0 07 00;0 08 01\n0 22 00;0 23 01\n"])  # a server ignoring the grammar
    config = SynthesisConfig(night, max_prompts=1, ablate=frozenset({"tof"}))
    kept, _bp, report = synthesize_raw(home(), home_vocabulary(DEVICES, ACTIONS), config, backend=backend)
    assert report["sequences_generated"] == 1 and [b for _d, b, _dv, _a in kept[0]] == [7, 7]


def test_cancellation_before_and_during_a_request() -> None:
    vocab = home_vocabulary(DEVICES, ACTIONS)
    config = SynthesisConfig(SHIFT, max_prompts=2)
    scripted = ScriptedBackend(["0 07 00;0 08 01\n"])
    with pytest.raises(SynthesisCancelledError, match="before prompt 1/2"):
        synthesize_raw(home(), vocab, config, backend=scripted, cancelled=lambda: True)
    assert scripted.requests == []
    stalled = StalledBackend()
    with pytest.raises(SynthesisCancelledError, match="while generating"):
        synthesize_raw(home(), vocab, config, backend=stalled, cancelled=lambda: bool(stalled.requests))
    assert stalled.cancelled and len(stalled.requests) == 1


# -- the job's errors --------------------------------------------------------------------------------


def test_job_cancelled_becomes_job_cancelled_error() -> None:
    with pytest.raises(JobCancelledError):
        run_job("synthesize", job_params(llm={"backend": "server", "server_url": "http://127.0.0.1:9"}),
                lambda f, m: None, lambda: True)  # fmt: skip


def test_a_missing_model_file_is_a_clear_job_error(tmp_path: Path) -> None:
    params = job_params(llm={"backend": "local", "model_path": str(tmp_path / "nope.gguf")})
    with pytest.raises(JobError, match=r"cannot start the LLM .*model file not found"):
        run_job("synthesize", params, lambda f, m: None, lambda: False)


def test_without_llama_cpp_the_job_error_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # as on a hub where the wheel is not installed
    with pytest.raises(JobError, match="the in-process backend needs llama-cpp-python"):
        run_job("synthesize", job_params(), lambda f, m: None, lambda: False)


@pytest.mark.usefixtures("socket_enabled")  # loopback only: nothing listens on port 9
def test_an_unreachable_server_is_a_clear_job_error() -> None:
    params = job_params(llm={"backend": "server", "server_url": "http://127.0.0.1:9"})
    with pytest.raises(JobError, match=r"the LLM failed .*127\.0\.0\.1:9.*gave up after 3 attempts"):
        run_job("synthesize", params, lambda f, m: None, lambda: False)


class _OpenAICompletions(BaseHTTPRequestHandler):
    """Plays an OpenAI-compatible completion server on loopback: answers a fixed text, keeps bodies."""

    answer = "0 07 00;0 08 01\nthis line is garbage\n"
    bodies: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        self.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        payload = json.dumps(
            {
                "choices": [{"text": self.answer, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 500, "completion_tokens": 20},
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.mark.usefixtures("socket_enabled")  # loopback only
def test_the_server_backend_sends_the_grammar_and_parses_what_comes_back() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAICompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        llm = {"backend": "server", "server_url": url, "server_model": "gemma", "n_ctx": N_CTX}
        params = job_params(llm=llm, max_prompts=2)  # N_CTX: the home's sequences take 2+ prompts
        result = run_job("synthesize", params, lambda f, m: None, lambda: False)
    finally:
        server.shutdown()
        server.server_close()
    bodies = _OpenAICompletions.bodies
    assert len(bodies) == 2 and all(b["model"] == "gemma" and "grammar" in b for b in bodies)
    assert "a baby arrived" in bodies[0]["prompt"] and bodies[0]["seed"] + 1 == bodies[1]["seed"]
    report = result["report"]
    assert report["backend"] == url and report["prompts_sent"] == 2 and report["pass_at_1"] == 0.0
    assert report["sequences_generated"] == 2 and report["prompt_tokens_sent"] == 1000
    for seq in result["sequences"]:
        assert [(day, bucket) for day, bucket, _dev, _act in seq] == [(0, 2), (0, 2)]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"shift": {"kind": "weather", "new": "rain"}}, "shift kind must be one of"),
        ({"shift": {"kind": "custom", "new": " "}}, "bad shift"),
        ({"sequences": [[[0, 1, 9, 0]]]}, r"device<4"),
        ({"devices": []}, "'devices'"),
        ({"ablate": ["tss", "llm"]}, "stages to ablate"),
        ({"llm": {"backend": "server"}}, "server_url"),
        ({"weeks": 0}, "weeks"),
    ],
    ids=["kind", "empty-new", "device-id", "devices", "ablate", "server-url", "weeks"],
)
def test_bad_params_are_job_params_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(JobParamsError, match=message):
        run_job("synthesize", job_params(**overrides), lambda f, m: None, lambda: False)


# -- the model file check is remembered -------------------------------------------------------------


def test_a_verified_file_is_not_hashed_again_until_it_changes(tmp_path: Path) -> None:
    blob = tmp_path / "model.gguf"
    blob.write_bytes(b"GGUF" + bytes(1000))
    good = hashlib.sha256(blob.read_bytes()).hexdigest()
    assert is_verified(blob, good)
    assert not is_verified(blob, "0" * 64)  # what is remembered is this file having this hash
    stat = blob.stat()
    blob.write_bytes(b"XXXX" + bytes(1000))  # same size; mtime put back: looks unchanged
    os.utime(blob, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert is_verified(blob, good)  # remembered, not re-hashed (the cost this cache saves)
    blob.write_bytes(b"XXXX" + bytes(1001))  # a real change: size differs
    assert not is_verified(blob, good)
    assert not is_verified(blob.with_name("missing.gguf"), good)
