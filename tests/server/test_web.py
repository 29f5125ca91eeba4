"""The web interface at /web: its routes, its access control, and the page in a real headless
Chromium (Debian's ``chromium``, driven by Playwright) against real server processes."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Browser, Page, expect, sync_playwright
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from openenv_gym.envs.echo import EchoAction, EchoEnvironment, EchoObservation
from openenv_gym.providers import ProcessProvider
from openenv_gym.server import create_app
from openenv_gym.server.web import WEB_VARIABLE, token_subprotocol
from tests.support.servers import serving, ws_url

CHROMIUM = "/usr/bin/chromium"
TOKEN = "tok/7f+3c=9a"  # "/", "+" and "=" are not allowed in a subprotocol: the page must encode them
ECHO = "openenv_gym.envs.echo.app:app"


def echo_app(**kwargs) -> TestClient:
    return TestClient(create_app(EchoEnvironment, EchoAction, EchoObservation, **kwargs))


# --- routes (no browser) --------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, "", "false", "0", "no", "off"])
def test_the_web_interface_is_off_unless_enabled(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(WEB_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(WEB_VARIABLE, value)
    with echo_app() as client:
        for path in ("/", "/web", "/web/", "/web/app.js"):
            assert client.get(path).status_code == 404


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE", "Yes"])
def test_the_variable_enables_it_as_upstream(monkeypatch, value):
    monkeypatch.setenv(WEB_VARIABLE, value)
    with echo_app() as client:
        page = client.get("/")
    assert page.status_code == 200 and str(page.url).endswith("/web/")
    assert '<script type="module" src="app.js">' in page.text


def test_web_true_serves_the_page_and_its_files(monkeypatch):
    monkeypatch.setenv(WEB_VARIABLE, "false")  # the keyword wins over the variable
    with echo_app(web=True) as client:
        assert client.get("/web", follow_redirects=False).headers["location"].endswith("/web/")
        assert client.get("/", follow_redirects=False).headers["location"] == "web/"
        for name, kind in [("app.js", "javascript"), ("form.js", "javascript"),
                           ("connection.js", "javascript"), ("style.css", "text/css")]:
            response = client.get(f"/web/{name}")
            assert response.status_code == 200 and kind in response.headers["content-type"]
        paths = set(client.get("/openapi.json").json()["paths"])  # upstream's web API; the page is not in it
        assert {"/web/metadata", "/web/reset", "/web/state", "/web/step"} <= paths
        assert "/web/app.js" not in paths and "/web/" not in paths
    with echo_app(web=False) as client:
        assert client.get("/web/").status_code == 404
        assert not any(p.startswith("/web") for p in client.get("/openapi.json").json()["paths"])


@pytest.fixture(scope="module")
def guarded() -> Iterator[ProcessProvider]:
    """Echo with the web interface, requiring TOKEN, logging at debug level (to look for leaks)."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(WEB_VARIABLE, "true")
        with ProcessProvider(ECHO, token=TOKEN, log_level="debug") as provider:
            provider.start()
            yield provider



def test_with_a_token_the_page_is_public_and_the_data_is_not(guarded):
    url = guarded.start()
    assert httpx.get(url + "/web/").status_code == 200
    assert httpx.get(url + "/web/app.js").status_code == 200
    assert httpx.get(url + "/schema").status_code == 401
    assert httpx.get(url + "/schema", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    for sneaky in ("/web/../schema", "/web/%2e%2e/schema", "/web/..%2fschema", "//schema"):
        connection = http.client.HTTPConnection(url.removeprefix("http://"))  # sends the path as is
        connection.request("GET", sneaky)
        response = connection.getresponse()
        assert response.status in (401, 404) and b"action" not in response.read(), sneaky


def test_a_websocket_may_offer_the_token_as_a_subprotocol(guarded):
    with connect(ws_url(guarded), subprotocols=["openenv-gym.v1", token_subprotocol(TOKEN)]) as socket:
        assert socket.subprotocol == "openenv-gym.v1"  # never the token entry
        socket.send(json.dumps({"type": "step", "id": 1, "data": {"message": "hi"}}))
        reply = json.loads(socket.recv())
    assert reply["id"] == 1 and reply["data"]["observation"]["echoed_message"] == "hi"
    for offered in (["openenv-gym.v1"], ["openenv-gym.v1", token_subprotocol("tok/7f+3c=9b")]):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(guarded), subprotocols=offered)
        assert refused.value.response.status_code == 403
    time.sleep(0.2)  # the server's debug log is written as it goes
    log = guarded.log_tail(10_000)
    assert "Sec-WebSocket-Protocol" in log  # the handshake was logged ...
    assert TOKEN not in log and token_subprotocol(TOKEN) not in log  # ... without the token


# --- the page in Chromium -------------------------------------------------------------------

@contextlib.contextmanager
def web_server(app: str, token: str | None = None) -> Iterator[ProcessProvider]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(WEB_VARIABLE, "true")
        env.delenv("OPENENV_TOKEN", raising=False)
        if token:
            env.setenv("OPENENV_TOKEN", token)
        with serving(app) as provider:
            yield provider


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser: Browser) -> Iterator:
    """Opens pages in a fresh browser context (own storage); fails the test on a script error."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    errors: list[str] = []

    def open_page(url: str) -> Page:
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        return page

    yield open_page
    context.close()
    assert errors == []


@pytest.fixture(scope="module")
def echo_web() -> Iterator[ProcessProvider]:
    with web_server(ECHO) as provider:
        yield provider


@pytest.fixture(scope="module")
def form_web() -> Iterator[ProcessProvider]:
    with web_server("tests.support.apps:form") as provider:
        yield provider


def history(page: Page) -> list[str]:
    return page.locator("#history .entry").all_inner_texts()


def step(page: Page, entries: int) -> None:
    """Clicks Step and waits for the history to hold ``entries`` entries."""
    page.click("#step")
    expect(page.locator("#history > li")).to_have_count(entries)


def sessions_become(provider: ProcessProvider, count: int, token: str | None = None) -> bool:
    """Whether the server's open sessions reach ``count`` within 5 s (closing one is asynchronous)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if httpx.get(provider.start() + "/capabilities", headers=headers).json()["active_sessions"] == count:
            return True
        time.sleep(0.05)
    return False


@pytest.mark.needs_chromium
def test_echo_page_steps_resets_and_keeps_a_history(echo_web, open_page):
    page = open_page(echo_web.start() + "/")
    expect(page).to_have_url(echo_web.start() + "/web/")
    expect(page.locator("#history > li")).to_have_count(1)  # the session starts with a reset
    expect(page.locator("#status")).to_have_text("connected: own session")
    expect(page.locator("label[for='field-message']")).to_have_text("Message *")
    expect(page.locator("[data-path='message'] .hint")).to_have_text("The message to echo back.")
    assert page.locator("#field-message").evaluate("e => e.tagName") == "TEXTAREA"

    page.fill("#field-message", "hello web")
    step(page, 2)
    assert json.loads(page.inner_text("#observation")) == {"echoed_message": "hello web", "message_length": 9}
    expect(page.locator("#reward")).to_have_text("0.9")
    expect(page.locator("#render")).to_have_text("hello web")
    page.fill("#field-message", "again")
    step(page, 3)
    assert history(page) == ["step 2 · reward 0.5", "step 1 · reward 0.9", "reset · reward 0"]
    expect(page.locator("#state")).to_contain_text('"step_count": 2')

    page.fill("#seed", "7")
    page.click("#reset")
    expect(page.locator("#history > li")).to_have_count(4)
    assert history(page)[0] == "reset (seed 7) · reward 0"
    expect(page.locator("#step-count")).to_have_text("0")
    expect(page.locator("#state")).to_contain_text('"step_count": 0')


@pytest.mark.needs_chromium
def test_the_form_has_an_input_for_every_kind_of_field(form_web, open_page):
    page = open_page(form_web.start() + "/web/")
    expect(page.locator("#history > li")).to_have_count(1)
    count = page.locator("#field-count")
    assert [count.get_attribute(a) for a in ("type", "min", "max", "step")] == ["number", "1", "10", "1"]
    expect(count).to_have_value("1")  # the default
    assert page.locator("#field-loud").get_attribute("type") == "checkbox"
    assert page.locator("#field-colour option").all_inner_texts() == ["red", "green", "blue"]
    expect(page.locator("#field-colour")).to_have_value('"green"')
    expect(page.locator("fieldset[data-path='target'] legend")).to_have_text("Target")
    expect(page.locator("label[for='field-text']")).to_have_text("Text *")
    expect(page.locator("#field-target\\.x")).to_be_hidden()  # optional object: off until ticked
    assert page.locator("#field-note").get_attribute("placeholder") == "string or integer"

    page.fill("#field-text", "ab")
    page.fill("#field-count", "3")
    page.check("#field-loud")
    page.select_option("#field-colour", label="blue")
    page.fill("#field-tags", "1, 2,3")
    page.check("#field-target")
    page.fill("#field-target\\.x", "4")
    page.fill("#field-note", "42")
    step(page, 2)
    assert json.loads(page.inner_text("#observation"))["received"] == {
        "text": "ab", "count": 3, "scale": 0.5, "loud": True, "colour": "blue", "tags": [1, 2, 3],
        "target": {"x": 4, "y": 0}, "note": 42}
    expect(page.locator("#reward")).to_have_text("1.5")
    expect(page.locator("#render")).to_have_text("[ABABAB]")


@pytest.mark.needs_chromium
def test_an_invalid_action_shows_the_servers_error_and_the_page_goes_on(form_web, open_page):
    page = open_page(form_web.start() + "/web/")
    expect(page.locator("#history > li")).to_have_count(1)
    page.fill("#field-text", "x")
    page.fill("#field-count", "99")
    page.click("#step")
    expect(page.locator("#error")).to_contain_text("VALIDATION_ERROR: Invalid action: count")
    expect(page.locator("[data-path='count'] .error-text")).to_have_text("Input should be less than or equal to 10")
    expect(page.locator("#field-count")).to_have_attribute("aria-invalid", "true")
    assert len(history(page)) == 1  # nothing happened

    page.fill("#field-count", "2")
    step(page, 2)
    expect(page.locator("#error")).to_be_hidden()
    expect(page.locator("#field-count")).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#render")).to_have_text("[xx]")


@pytest.mark.needs_chromium
def test_raw_json_mode_sends_what_the_form_cannot_express(form_web, open_page):
    page = open_page(form_web.start() + "/web/")
    expect(page.locator("#history > li")).to_have_count(1)
    page.fill("#field-text", "from the form")
    page.check("#raw-toggle")
    assert json.loads(page.input_value("#raw"))["text"] == "from the form"
    page.fill("#raw", '{"text": "raw", "colour": "red", "metadata": {"k": 1}}')
    step(page, 2)
    expect(page.locator("#done")).to_have_text("true")
    expect(page.locator("#episode-over")).to_be_visible()
    assert history(page)[0] == "step 1 · reward 0.5 · done"

    page.fill("#raw", "{not json")
    page.click("#step")
    expect(page.locator("#error")).to_contain_text("not valid JSON")
    page.fill("#raw", '{"text": "back"}')
    page.uncheck("#raw-toggle")  # the form takes the raw action over
    expect(page.locator("#field-text")).to_have_value("back")
    expect(page.locator("#field-colour")).to_have_value('"green"')


@pytest.mark.needs_chromium
def test_each_page_has_its_own_session_and_closing_it_frees_the_session(echo_web, open_page):
    first, second = open_page(echo_web.start() + "/web/"), open_page(echo_web.start() + "/web/")
    for page in (first, second):
        expect(page.locator("#history > li")).to_have_count(1)
    assert sessions_become(echo_web, 2)
    for entries in (2, 3, 4):
        step(first, entries)
    step(second, 2)
    expect(first.locator("#state")).to_contain_text('"step_count": 3')
    expect(second.locator("#state")).to_contain_text('"step_count": 1')
    first.close()
    assert sessions_become(echo_web, 1)


@pytest.mark.needs_chromium
def test_chess_in_text_mode_takes_a_move_and_shows_the_board(open_page):
    with web_server("openenv_gym.envs.chess.app:app") as chess:
        page = open_page(chess.start() + "/web/")
        expect(page.locator("#history > li")).to_have_count(1)
        page.fill("#field-move", "e4")
        step(page, 2)
        expect(page.locator("#render")).to_contain_text("P P P P . P P P")
        assert json.loads(page.inner_text("#observation"))["last_move"] != "e2e4"  # the opponent replied
        assert "e2e4" in json.loads(page.inner_text("#state"))["move_history"]


@pytest.mark.needs_chromium
def test_a_token_protected_server_asks_for_the_token(open_page):
    with web_server(ECHO, token=TOKEN) as guarded:
        page = open_page(guarded.start() + "/web/")
        expect(page.locator("#status")).to_have_text("token required")
        assert sessions_become(guarded, 0, TOKEN)
        page.fill("#token", "wrong")
        page.click("#token-form button")
        expect(page.locator("#token-error")).to_have_text("the server refused this token")
        page.fill("#token", TOKEN)
        page.click("#token-form button")
        expect(page.locator("#status")).to_have_text("connected: own session")
        expect(page.locator("#token-form")).to_be_hidden()
        page.fill("#field-message", "let in")
        step(page, 2)
        expect(page.locator("#observation")).to_contain_text("let in")
        assert sessions_become(guarded, 1, TOKEN)


@pytest.mark.needs_chromium
def test_the_screenshot_is_not_blank(echo_web, open_page, tmp_path):
    page = open_page(echo_web.start() + "/web/")
    page.fill("#field-message", "a screenshot")
    step(page, 2)
    pixels = np.asarray(Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB"))
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert pixels.shape[0] >= 600 and pixels.shape[1] == 1200
    assert len(colours) > 50  # text, header, buttons, panels: not one flat colour
    assert pixels.std() > 20


@pytest.mark.needs_chromium
def test_a_full_server_and_an_idle_timeout_are_shown_and_reconnect_works(open_page):
    with web_server("tests.support.apps:single") as single:  # capacity 1
        first = open_page(single.start() + "/web/")
        expect(first.locator("#status")).to_have_text("connected: own session")
        second = open_page(single.start() + "/web/")
        expect(second.locator("#status")).to_contain_text("disconnected: CAPACITY_REACHED")
        first.close()
        assert sessions_become(single, 0)
        second.click("#reconnect")
        expect(second.locator("#status")).to_have_text("connected: own session")
    with web_server("tests.support.apps:idle") as idle:  # sessions idle for 0.3 s are closed
        page = open_page(idle.start() + "/web/")
        expect(page.locator("#status")).to_have_text("disconnected: session idle timeout")
        expect(page.locator("#step")).to_be_disabled()
        page.click("#reconnect")
        expect(page.locator("#history > li")).to_have_count(2)  # a new session starts with a reset


@pytest.mark.needs_chromium
def test_an_rgb_array_rendering_is_drawn_on_a_canvas(open_page):
    with web_server("openenv_gym.envs.atari.app:app") as atari:
        page = open_page(atari.start() + "/web/")
        expect(page.locator("#frame")).to_be_visible()
        assert page.locator("#frame").get_attribute("width") == "160"
        spread = page.locator("#frame").evaluate("""canvas => {
            const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            return new Set(data).size; }""")
        assert spread > 5  # Pong's court, paddles and score: not a flat or empty canvas
        page.fill("#field-action_id", "2")
        step(page, 2)
        expect(page.locator("#render")).to_contain_text("step 1")
