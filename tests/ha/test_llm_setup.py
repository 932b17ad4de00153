"""The options flow's synthesis model: local GGUF, download with a progress step, OpenAI-compatible server.

Everything is real: llama.cpp loads the packaged Gemma 3 270M in a child process, downloads come from
a real aiohttp server on 127.0.0.1 (the internet is unreachable here, so a loopback server is the
honest stand-in for a model host), and the server option is validated against a real
``python -m llama_cpp.server`` serving Gemma 3 270M on loopback (the fixture of test_llm_http.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.habitus.const import AdaptMode, LlmBackendKind
from custom_components.habitus.llm_setup import (
    LlmSetupError,
    async_download_model,
    async_validate_server,
    check_gguf_file,
    model_file_name,
    models_url,
)
from custom_components.habitus.native import NATIVE_REQUIREMENTS
from habitus_engine.llm.model_file import default_model_path
from tests.engine.test_llm_http import _free_port, llama_server  # noqa: F401  (the real server fixture)

from .conftest import SetupHabitus

pytestmark = pytest.mark.usefixtures("socket_enabled")

GGUF_HEADER = b"GGUF\x03\x00\x00\x00" + bytes(56)  # the magic and a version: not a loadable model


@pytest.fixture(autouse=True)
def config_dir(hass: HomeAssistant, tmp_path: Path) -> Path:
    """A configuration folder of the test's own (downloads land in ``<config>/habitus/models``)."""
    hass.config.config_dir = str(tmp_path / "config")
    return tmp_path / "config"


@pytest.fixture(scope="module")
def gemma() -> Path:
    """The packaged Gemma 3 270M GGUF."""
    return default_model_path()


class Files:
    """A loopback HTTP server: ``/<name>`` answers with the bytes or file registered under ``name``."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes | Path] = {}
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = self.bodies.get(request.match_info["name"])
        if body is None:
            return web.Response(status=404, text="not found")
        if isinstance(body, Path):
            return web.FileResponse(body)
        return web.Response(body=body)


def _answer(make: Any, *args: Any, **kwargs: Any) -> Any:
    """A handler answering every request with ``make(*args, **kwargs)``."""

    async def handler(_request: web.Request) -> web.StreamResponse:
        response: web.StreamResponse = make(*args, **kwargs)
        return response

    return handler


@pytest.fixture
async def files() -> AsyncIterator[Files]:
    served = Files()
    app = web.Application()
    app.router.add_get("/{name}", served.handle)
    app.router.add_get("/v1/models", _answer(web.json_response, {"object": "list", "data": []}))
    app.router.add_get("/html/v1/models", _answer(web.Response, text="<html></html>"))
    app.router.add_get("/odd/v1/models", _answer(web.json_response, {"models": ["m"]}))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    served.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    try:
        yield served
    finally:
        await runner.cleanup()


async def _menu(hass: HomeAssistant, entry_id: str, choice: str) -> dict[str, Any]:
    """Options -> synthesis model -> ``choice``."""
    result = await hass.config_entries.options.async_init(entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "synthesis_model"}
    )
    assert result["type"] is FlowResultType.MENU
    return dict(
        await hass.config_entries.options.async_configure(result["flow_id"], {"next_step_id": choice})
    )


def _models(hass: HomeAssistant) -> list[str]:
    directory = Path(hass.config.path("habitus", "models"))
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


# -- local file -------------------------------------------------------------------------------------


async def test_local_gguf_is_loaded_in_a_child_then_saved(
    hass: HomeAssistant, setup_habitus: SetupHabitus, gemma: Path
) -> None:
    entry = await setup_habitus({"llm_backend": "server", "llm_server_url": "http://127.0.0.1:1/v1"})
    result = await _menu(hass, entry.entry_id, "model_local")
    assert result["step_id"] == "model_local"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"llm_model_path": str(gemma)}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    settings = entry.runtime_data.settings  # reloaded with the new options
    assert settings.llm_backend is LlmBackendKind.LOCAL
    assert settings.llm_model_path == str(gemma)
    assert settings.llm_server_url == "http://127.0.0.1:1/v1"  # kept for a later switch back


async def test_the_packaged_model_is_the_default_and_can_be_chosen_again(
    hass: HomeAssistant, setup_habitus: SetupHabitus, tmp_path: Path
) -> None:
    entry = await setup_habitus({"llm_backend": "server", "llm_model_path": str(tmp_path / "old.gguf")})
    result = await _menu(hass, entry.entry_id, "model_packaged")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    settings = entry.runtime_data.settings
    assert settings.llm_backend is LlmBackendKind.LOCAL and settings.llm_model_path is None  # Gemma 3 270M


@pytest.mark.parametrize(
    ("content", "error"),
    [(None, "file_not_found"), (b"<html>a web page</html>", "not_gguf"), (GGUF_HEADER, "model_not_loadable")],
    ids=["missing", "not-gguf", "gguf-magic-but-not-a-model"],
)
async def test_local_gguf_errors(
    hass: HomeAssistant, setup_habitus: SetupHabitus, tmp_path: Path, content: bytes | None, error: str
) -> None:
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    entry = await setup_habitus()
    result = await _menu(hass, entry.entry_id, "model_local")
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"llm_model_path": str(path)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"llm_model_path": error}
    assert result["description_placeholders"]["detail"] != "-"  # the message says what was wrong
    assert entry.options == {}  # nothing saved


def test_gguf_file_checks(tmp_path: Path) -> None:
    folder = tmp_path / "folder.gguf"
    folder.mkdir()
    with pytest.raises(LlmSetupError, match="file_not_found"):  # a folder is no model file
        check_gguf_file(folder)
    short = tmp_path / "short.gguf"
    short.write_bytes(b"GG")
    with pytest.raises(LlmSetupError, match="not_gguf"):
        check_gguf_file(short)
    fine = tmp_path / "fine.gguf"
    fine.write_bytes(GGUF_HEADER)
    check_gguf_file(fine)


# -- download ---------------------------------------------------------------------------------------


async def _download(hass: HomeAssistant, entry_id: str, user_input: dict[str, str]) -> dict[str, Any]:
    """Submit the download form; wait for the progress step; the step that follows it."""
    result = await _menu(hass, entry_id, "model_download")
    assert result["step_id"] == "model_download"
    result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["step_id"] == "download" and result["progress_action"] == "download"
    assert result["description_placeholders"] == {"url": user_input["url"]}
    await hass.async_block_till_done()  # the download task ends; HA moves the flow on
    result = await hass.config_entries.options.async_configure(result["flow_id"])
    await hass.async_block_till_done(wait_background_tasks=True)
    return dict(result)


async def test_download_shows_progress_checks_and_saves(
    hass: HomeAssistant, setup_habitus: SetupHabitus, files: Files, gemma: Path
) -> None:
    files.bodies["gemma-3-270m.gguf"] = gemma
    digest = await hass.async_add_executor_job(lambda: hashlib.sha256(gemma.read_bytes()).hexdigest())
    entry = await setup_habitus()
    result = await _download(
        hass, entry.entry_id, {"url": f"{files.url}/gemma-3-270m.gguf", "sha256": digest.upper()}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    saved = Path(hass.config.path("habitus", "models", "gemma-3-270m.gguf"))
    assert _models(hass) == ["gemma-3-270m.gguf"]  # no temporary file left
    assert saved.stat().st_size == gemma.stat().st_size
    settings = entry.runtime_data.settings
    assert settings.llm_backend is LlmBackendKind.LOCAL and settings.llm_model_path == str(saved)


@pytest.mark.parametrize(
    "case",
    [
        (GGUF_HEADER, "0" * 64, {"sha256": "checksum_mismatch"}),
        (b"<html>log in first</html>", "", {"base": "not_gguf"}),
        (GGUF_HEADER, "", {"base": "model_not_loadable"}),
        (None, "", {"url": "download_failed"}),
    ],
    ids=["checksum-mismatch", "not-gguf", "not-loadable", "http-404"],
)
async def test_download_errors_leave_nothing_behind(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    files: Files,
    case: tuple[bytes | None, str, dict[str, str]],
) -> None:
    body, sha256, errors = case
    if body is not None:
        files.bodies["model.gguf"] = body
    entry = await setup_habitus()
    result = await _download(hass, entry.entry_id, {"url": f"{files.url}/model.gguf", "sha256": sha256})
    assert result["type"] is FlowResultType.FORM and result["step_id"] == "model_download"
    assert result["errors"] == errors
    if "sha256" in errors:  # the message shows the checksum the download really had
        assert result["description_placeholders"]["detail"] == hashlib.sha256(GGUF_HEADER).hexdigest()
    assert _models(hass) == []  # the temporary file is gone, and nothing was renamed into place
    assert entry.options == {}
    # the form keeps the URL, and a corrected submission starts a new download
    defaults = {key.schema: key.default() for key in result["data_schema"].schema}
    assert defaults["url"] == f"{files.url}/model.gguf"


async def test_download_form_errors(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    entry = await setup_habitus()
    result = await _menu(hass, entry.entry_id, "model_download")
    for user_input, errors in [
        ({"url": "ftp://example.org/m.gguf"}, {"url": "invalid_url"}),
        ({"url": "http://127.0.0.1/m.gguf", "sha256": "abc"}, {"sha256": "invalid_checksum"}),
    ]:
        result = await hass.config_entries.options.async_configure(result["flow_id"], user_input)
        assert result["type"] is FlowResultType.FORM and result["errors"] == errors


async def test_download_from_a_refused_port(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    entry = await setup_habitus()
    result = await _download(hass, entry.entry_id, {"url": f"http://127.0.0.1:{_free_port()}/m.gguf"})
    assert result["errors"] == {"url": "cannot_connect"}
    assert _models(hass) == []


async def test_download_size_limit_and_file_name(hass: HomeAssistant, files: Files, tmp_path: Path) -> None:
    files.bodies["big.gguf"] = GGUF_HEADER * 4
    with pytest.raises(LlmSetupError, match="too_large"):
        await async_download_model(hass, f"{files.url}/big.gguf", tmp_path, max_bytes=len(GGUF_HEADER))
    assert list(tmp_path.iterdir()) == []
    path = await async_download_model(hass, f"{files.url}/big.gguf", tmp_path, max_bytes=1 << 20)
    assert path.read_bytes() == GGUF_HEADER * 4
    assert model_file_name("https://h/x/resolve/main/Model%20Q4.gguf?download=true") == "Model_Q4.gguf"
    assert model_file_name("https://h/../..") == "model.gguf"


async def test_cancelled_download_removes_its_temporary_file(hass: HomeAssistant, tmp_path: Path) -> None:
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(GGUF_HEADER)
        await release.wait()  # never finishes before the cancel
        return response

    app = web.Application()
    app.router.add_get("/slow.gguf", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        task = hass.async_create_task(
            async_download_model(hass, f"http://127.0.0.1:{port}/slow.gguf", tmp_path, max_bytes=1 << 20)
        )
        while not list(tmp_path.iterdir()):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert list(tmp_path.iterdir()) == []
    finally:
        release.set()
        await runner.cleanup()


# -- OpenAI-compatible server -----------------------------------------------------------------------


async def test_server_validated_against_a_real_llama_cpp_server(
    hass: HomeAssistant,
    setup_habitus: SetupHabitus,
    llama_server: str,  # noqa: F811
    gemma: Path,
) -> None:
    entry = await setup_habitus()
    result = await _menu(hass, entry.entry_id, "model_server")
    assert result["step_id"] == "model_server"
    flow_id = result["flow_id"]
    result = await hass.config_entries.options.async_configure(
        flow_id, {"llm_server_url": f"{llama_server}/v1", "llm_server_model": "llama-3-70b"}
    )
    assert result["errors"] == {"llm_server_model": "model_not_found"}
    assert str(gemma) in result["description_placeholders"]["detail"]  # what the server does serve
    result = await hass.config_entries.options.async_configure(
        flow_id, {"llm_server_url": f"{llama_server}/v1", "llm_server_model": str(gemma)}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    settings = entry.runtime_data.settings
    assert settings.llm_backend is LlmBackendKind.SERVER
    assert (settings.llm_server_url, settings.llm_server_model) == (f"{llama_server}/v1", str(gemma))
    # no model name: the server's (only) model; a base URL without /v1 works too
    assert await async_validate_server(hass, llama_server, "") == str(gemma)


async def test_server_errors(hass: HomeAssistant, setup_habitus: SetupHabitus) -> None:
    entry = await setup_habitus()
    result = await _menu(hass, entry.entry_id, "model_server")
    for url, error in [
        (f"http://127.0.0.1:{_free_port()}/v1", "cannot_connect"),  # a refused port
        ("127.0.0.1:8080", "invalid_url"),
    ]:
        result = await hass.config_entries.options.async_configure(
            result["flow_id"], {"llm_server_url": url, "llm_server_model": "gemma"}
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == {"llm_server_url": error}
    assert entry.options == {}


async def test_server_answers(hass: HomeAssistant, files: Files) -> None:
    # a server listing no models is taken at its word, with the name given
    assert await async_validate_server(hass, f"{files.url}/v1/", "my-model") == "my-model"
    for base in ("html", "odd"):  # not JSON; JSON but no OpenAI model list
        with pytest.raises(LlmSetupError, match="invalid_response"):
            await async_validate_server(hass, f"{files.url}/{base}", "m")
    with pytest.raises(LlmSetupError, match="cannot_connect"):  # HTTP 404
        await async_validate_server(hass, f"{files.url}/nothing/here", "m")
    assert models_url("http://h:1/v1/") == "http://h:1/v1/models"
    assert models_url("http://h:1") == "http://h:1/v1/models"


async def test_server_timeout(hass: HomeAssistant) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.json_response({"data": []})

    app = web.Application()
    app.router.add_get("/v1/models", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        with pytest.raises(LlmSetupError, match="timeout"):
            await async_validate_server(hass, f"http://127.0.0.1:{port}", "m", timeout=0.3)
    finally:
        release.set()
        await runner.cleanup()


def test_every_error_abort_and_issue_of_the_llm_setup_is_translated() -> None:
    package = Path(__file__).parents[2] / "custom_components" / "habitus"
    strings = json.loads((package / "strings.json").read_text(encoding="utf-8"))
    options = strings["options"]
    errors = set(
        re.findall(r'LlmSetupError\("(\w+)"', (package / "llm_setup.py").read_text(encoding="utf-8"))
    )
    assert {"file_not_found", "not_gguf", "model_not_loadable", "cannot_connect", "timeout"} <= errors
    assert errors <= set(options["error"])
    flow = (package / "config_flow.py").read_text(encoding="utf-8")
    assert set(re.findall(r'async_abort\(reason="(\w+)"', flow)) <= set(options["abort"])
    for step in ("init", "synthesis_model"):  # the menus
        menu = re.search(rf'step_id="{step}",\s*menu_options=\[([^\]]*)\]', flow)
        assert menu is not None
        assert set(re.findall(r'"(\w+)"', menu.group(1))) == set(options["step"][step]["menu_options"])
    for step, fields in [
        ("model_local", {"llm_model_path"}),
        ("model_download", {"url", "sha256"}),
        ("model_server", {"llm_server_url", "llm_server_model"}),
        ("adaptation", {"adapt_mode", "adapt_on_shift", "quiet_hour"}),
    ]:
        assert set(options["step"][step]["data"]) == set(options["step"][step]["data_description"]) == fields
    assert set(strings["selector"]["adapt_mode"]["options"]) == {mode.value for mode in AdaptMode}
    assert "download" in options["progress"]
    assert {item.issue_key for item in NATIVE_REQUIREMENTS} <= set(strings["issues"])
