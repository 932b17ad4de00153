"""The OpenAI-compatible HTTP backend.

Against a REAL ``python -m llama_cpp.server`` serving Gemma 3 270M on 127.0.0.1 (module fixture), and,
for failures a real server cannot be made to produce on demand (503s, hangs, garbage bodies), against
a small aiohttp server on loopback that plays them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import aiohttp
import pytest
import pytest_socket
from aiohttp import web

from habitus_engine.llm.base import GenerationRequest, LLMError
from habitus_engine.llm.grammar import LINE_START, LineFormat
from habitus_engine.llm.http import HttpBackend, HttpBackendConfig, request_body
from habitus_engine.llm.model_file import default_model_path
from habitus_engine.synth_parse import CodeTable, DeviceAction, parse_response

TABLE = CodeTable(
    (
        DeviceAction("Light", "Light:switch on"),
        DeviceAction("Light", "Light:switch off"),
        DeviceAction("Television", "Television:switch on"),
        DeviceAction("Television", "Television:switch off"),
        DeviceAction("Blind", "Blind:windowShade open"),
    )
)
PROMPT = (
    "Smart home behaviour. Each line is one sequence; behaviours 'D HH C' (day, hour, code) joined by ';'.\n"
    "Codes: 0 Light:switch on, 1 Light:switch off, 2 Television:switch on, 3 Television:switch off, "
    "4 Blind:windowShade open\n"
    "0 07 4;0 07 0;0 08 1\n0 19 2;0 21 3\n1 07 4;1 08 0;1 08 1\n2 20 2;2 20 0;2 23 3\n"
)
FORMAT = LineFormat(n_codes=len(TABLE), max_lines=2, max_behaviours=4)

# Home Assistant's test plugin blocks sockets; these tests talk to servers on 127.0.0.1 only.
pytestmark = pytest.mark.usefixtures("socket_enabled")

# llama-cpp-python 0.3.36's AMX matmul segfaults on Gemma 3 on CPUs with Intel AMX (this machine):
# start the real server the way the in-process backend loads models, without llama.cpp's extra
# buffer types on such CPUs (habitus_engine.llm.local.load_llama).
_LAUNCH = """
import sys
from llama_cpp import llama_cpp as low
from habitus_engine.llm.local import cpu_has_amx
if cpu_has_amx():
    original = low.llama_model_default_params
    def params():
        p = original()
        p.use_extra_bufts = False
        return p
    low.llama_model_default_params = params
from llama_cpp.server.__main__ import main
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
main()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama_cpp.server on loopback serving Gemma 3 270M; killed at the end of the module."""
    pytest_socket.enable_socket()  # set up before the first test's socket_enabled fixture runs
    port = _free_port()
    command = [
        sys.executable,
        "-c",
        _LAUNCH,
        "--model",
        str(default_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "512",
        "--n_threads",
        "1",
    ]
    log = tmp_path_factory.mktemp("llama_server") / "server.log"  # a file: a full pipe would block it
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with no_proxy.open(f"{url}/v1/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("llama_cpp.server did not come up within 120 s")
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_real_llama_cpp_server_returns_grammar_constrained_behaviours(llama_server: str) -> None:
    one_line = LineFormat(n_codes=len(TABLE), max_lines=1, max_behaviours=3)  # <= 24 tokens
    backend = HttpBackend(HttpBackendConfig(llama_server, timeout_seconds=120))
    try:
        result = await backend.generate(GenerationRequest(PROMPT, one_line, max_tokens=32, seed=5))
    finally:
        await backend.aclose()
    assert result.constraint == "gbnf" and result.prompt_tokens > 50 and result.completion_tokens > 0
    # the server applied the grammar (which has no time order: that is the parser's job) and ended the line
    assert replace(one_line, max_span_hours=None).accepts(result.text), result.text
    parsed = parse_response(result.text, TABLE)
    assert parsed.lines == 1 and len(parsed.sequences) + len(parsed.invalid) == 1


async def test_real_server_through_a_shared_session_and_v1_base_url(llama_server: str) -> None:
    async with aiohttp.ClientSession() as session:
        backend = HttpBackend(HttpBackendConfig(f"{llama_server}/v1/"), session=session)
        result = await backend.generate(GenerationRequest(PROMPT, FORMAT, max_tokens=8, seed=6))
        await backend.aclose()  # must not close a session it does not own
        assert not session.closed
    grammar_language = replace(FORMAT, max_span_hours=None)
    assert result.finish_reason == "length" and grammar_language.run(LINE_START, result.text) is not None, (
        result.text
    )


def test_request_body_carries_the_constraint_each_server_understands() -> None:
    request = GenerationRequest(PROMPT, FORMAT, max_tokens=7, seed=3)
    gbnf = request_body(HttpBackendConfig("http://h:1", model="gemma"), request)
    assert gbnf["grammar"] == FORMAT.gbnf() and gbnf["model"] == "gemma" and "response_format" not in gbnf
    schema = request_body(HttpBackendConfig("http://h:1", constraint="json_schema"), request)
    assert (
        schema["response_format"]["json_schema"]["schema"] == FORMAT.json_schema() and "grammar" not in schema
    )
    assert HttpBackendConfig("http://h:1/v1").completions_url == "http://h:1/v1/completions"


# -- failures, played by a loopback aiohttp server -------------------------------------------------

GOOD = {
    "choices": [{"text": "0 07 0;0 08 1\n", "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 8},
}


class Scripted:
    """Answers each POST with the next scripted behaviour; counts requests."""

    def __init__(self, *script: object) -> None:
        self.script = list(script)
        self.requests = 0
        self.release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        await request.json()
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, int):
            return web.Response(status=step, text="scripted failure")
        if step == "hang":
            await asyncio.wait_for(self.release.wait(), 30)  # released at fixture teardown
        if step == "garbage":
            return web.Response(text="<html>not json</html>")
        if step == "wrong-json":
            return web.json_response({"choices": []})
        return web.json_response(GOOD)


@pytest.fixture
async def scripted_server() -> AsyncIterator[tuple[str, list[Scripted]]]:
    holder: list[Scripted] = [Scripted("ok")]
    app = web.Application()

    async def handle(request: web.Request) -> web.StreamResponse:
        return await holder[0].handle(request)

    app.router.add_post("/v1/completions", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}", holder
    finally:
        holder[0].release.set()  # a hanging handler would otherwise hold up the server's shutdown
        await runner.cleanup()


def _backend(url: str, **kwargs: object) -> HttpBackend:
    return HttpBackend(HttpBackendConfig(url, backoff_seconds=0.01, **kwargs))  # type: ignore[arg-type]


async def test_transient_failures_are_retried_with_backoff(
    scripted_server: tuple[str, list[Scripted]],
) -> None:
    url, holder = scripted_server
    holder[0] = Scripted(503, 429, "ok")
    backend = _backend(url, retries=2)
    try:
        result = await backend.generate(GenerationRequest(PROMPT, FORMAT))
    finally:
        await backend.aclose()
    assert holder[0].requests == 3 and parse_response(result.text, TABLE).passed


async def test_retries_are_bounded(scripted_server: tuple[str, list[Scripted]]) -> None:
    url, holder = scripted_server
    holder[0] = Scripted(500)
    backend = _backend(url, retries=2)
    try:
        with pytest.raises(LLMError, match="gave up after 3 attempts"):
            await backend.generate(GenerationRequest(PROMPT, FORMAT))
    finally:
        await backend.aclose()
    assert holder[0].requests == 3


async def test_client_errors_are_not_retried(scripted_server: tuple[str, list[Scripted]]) -> None:
    url, holder = scripted_server
    holder[0] = Scripted(400)
    backend = _backend(url, retries=3)
    try:
        with pytest.raises(LLMError, match="HTTP 400: scripted failure"):
            await backend.generate(GenerationRequest(PROMPT, FORMAT))
    finally:
        await backend.aclose()
    assert holder[0].requests == 1


@pytest.mark.parametrize(
    ("step", "message"), [("garbage", "not JSON"), ("wrong-json", "not an OpenAI completion")]
)
async def test_malformed_bodies_are_clear_errors(
    scripted_server: tuple[str, list[Scripted]], step: str, message: str
) -> None:
    url, holder = scripted_server
    holder[0] = Scripted(step)
    backend = _backend(url)
    try:
        with pytest.raises(LLMError, match=message):
            await backend.generate(GenerationRequest(PROMPT, FORMAT))
    finally:
        await backend.aclose()


async def test_a_hanging_server_times_out(scripted_server: tuple[str, list[Scripted]]) -> None:
    url, holder = scripted_server
    holder[0] = Scripted("hang")
    backend = _backend(url, retries=1, timeout_seconds=0.3)
    started = time.perf_counter()
    try:
        with pytest.raises(LLMError, match="TimeoutError"):
            await backend.generate(GenerationRequest(PROMPT, FORMAT))
    finally:
        await backend.aclose()
    assert holder[0].requests == 2 and time.perf_counter() - started < 5


async def test_cancelling_aborts_the_request(scripted_server: tuple[str, list[Scripted]]) -> None:
    url, holder = scripted_server
    holder[0] = Scripted("hang")
    backend = _backend(url)
    task = asyncio.create_task(backend.generate(GenerationRequest(PROMPT, FORMAT)))
    while holder[0].requests == 0:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await backend.aclose()


async def test_unreachable_server_is_an_llm_error() -> None:
    backend = _backend(f"http://127.0.0.1:{_free_port()}", retries=1)
    try:
        with pytest.raises(LLMError, match="gave up after 2 attempts"):
            await backend.generate(GenerationRequest(PROMPT, FORMAT))
    finally:
        await backend.aclose()


def test_config_rejects_non_http_urls() -> None:
    with pytest.raises(ValueError, match="not an http"):
        HttpBackendConfig("ftp://x")
    assert json.loads(json.dumps(GOOD))  # the scripted body is plain JSON
