"""A web page cannot drive a server on this machine: hostile ``Host``, ``Origin`` and
``Content-Type`` headers sent over raw sockets to real servers (``server/origins.py``)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets

from openenv_gym.client import EnvClient, SyncEnvClient
from openenv_gym.errors import TransportError
from openenv_gym.providers import ProcessProvider
from tests.support import servers

ECHO = "openenv_gym.envs.echo.app:app"
EVIL = "https://evil.example"
CREATE = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "openenv/session/create", "params": {}}).encode()
TOOLS = json.dumps({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}).encode()
WEBSOCKETS = ["/ws", "/mcp", "/ws/ui"]
ROUTES = [("GET", "/schema"), ("GET", "/health"), ("GET", "/state"), ("POST", "/reset"), ("POST", "/mcp"),
          ("POST", "/echo/tasks"), ("POST", "/web/step"), ("GET", "/web/")]
BODIES = {"/reset": b"{}", "/step": b'{"action": {"message": "hi"}}', "/mcp": CREATE,
          "/echo/tasks": b'{"split": "train"}', "/web/step": b'{"action": {"message": "hi"}}'}


class Server:
    """A started server: where to reach it, and what it answers to raw requests."""

    def __init__(self, url: str, address: str | None = None):
        self.url = url
        port = int(url.rsplit(":", 1)[1])
        self.address = (address or url.removeprefix("http://").rsplit(":", 1)[0], port)
        self.me = f"127.0.0.1:{port}"

    def handshake(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        """A WebSocket upgrade sent byte by byte: its HTTP status and JSON body (if any)."""
        key = base64.b64encode(os.urandom(16)).decode()
        head = [f"GET {path} HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        with socket.create_connection(self.address, timeout=10) as sock:
            sock.sendall(("\r\n".join(head + [f"{k}: {v}" for k, v in headers.items()]) + "\r\n\r\n").encode())
            reply = b""
            while b"\r\n\r\n" not in reply:
                reply += sock.recv(65536)
            status = int(reply.split(b" ", 2)[1])
            if status == 101:
                return status, None
            length = int(next((line.split(b":")[1] for line in reply.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), b"0"))
            while len(reply.split(b"\r\n\r\n", 1)[1]) < length:
                reply += sock.recv(65536)
        body = reply.split(b"\r\n\r\n", 1)[1]
        return status, json.loads(body) if body else None

    def request(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None
                ) -> tuple[int, Any, http.client.HTTPResponse]:
        """An HTTP request with exactly ``headers`` (``Host`` included, or none): status, JSON, response."""
        connection = http.client.HTTPConnection(*self.address, timeout=10)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                connection.putheader(name, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            raw = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(raw), response
        except ValueError:
            return response.status, None, response

    def sessions(self) -> int:
        return servers.active_sessions(self.url)


@pytest.fixture(scope="module")
def echo() -> Iterator[Server]:
    """The echo server with default settings and its web interface (the web API is a JSON route too)."""
    with servers.serving(ECHO, {"ENABLE_WEB_INTERFACE": "true"}) as provider:
        yield Server(provider.start())


@pytest.mark.parametrize("path", WEBSOCKETS)
def test_a_foreign_host_gets_no_websocket(echo, path):
    """DNS rebinding: a page of evil.example, its name pointed at 127.0.0.1, is "same-origin"."""
    before = echo.sessions()
    status, body = echo.handshake(path, {"Host": f"evil.example:{echo.address[1]}",
                                         "Origin": f"http://evil.example:{echo.address[1]}"})
    assert status == 400
    assert "OPENENV_ALLOWED_HOSTS=evil.example" in body["detail"]
    assert echo.sessions() == before


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_foreign_host_is_refused_on_every_route(echo, method, path):
    headers = {"Host": "evil.example", "Content-Type": "application/json"}
    before = echo.sessions()
    status, body, _ = echo.request(method, path, headers, BODIES.get(path))
    assert status == 400
    assert "DNS rebinding" in body["detail"] and "OPENENV_ALLOWED_HOSTS" in body["detail"]
    assert echo.sessions() == before


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LocalHost.:{port}", "[::1]:{port}",
                                  "app.localhost:{port}", "127.0.0.2", "0.0.0.0:{port}", socket.gethostname()])
def test_this_machines_names_are_answered(echo, host):
    headers = {"Host": host.format(port=echo.address[1])}
    assert echo.request("GET", "/schema", headers)[0] == 200
    assert echo.handshake("/ws", headers)[0] == 101


def test_a_request_without_host_is_answered(echo):
    """HTTP/1.0 clients may send no Host; a browser always sends one."""
    with socket.create_connection(echo.address, timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1:1", "http://localhost:{port}",
                                    "http://127.0.0.1:{port}.evil.example", "file://"])
@pytest.mark.parametrize("path", WEBSOCKETS)
def test_a_cross_site_websocket_is_refused_before_any_session(echo, origin, path):
    origin = origin.format(port=echo.address[1])
    with SyncEnvClient(echo.url) as bystander:  # another user's session: it goes on
        bystander.reset()
        before = echo.sessions()
        status, body = echo.handshake(path, {"Host": echo.me, "Origin": origin})
        assert status == 403
        assert f"OPENENV_ALLOWED_ORIGINS={origin}" in body["detail"]
        assert echo.sessions() == before
        assert bystander.step({"message": "still here"}).observation["echoed_message"] == "still here"


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
@pytest.mark.parametrize(("method", "path"), ROUTES + [("POST", "/step"), ("OPTIONS", "/step")])
def test_cross_site_requests_are_refused(echo, method, path, content_type):
    status, body, response = echo.request(method, path, {"Host": echo.me, "Origin": EVIL,
                                                         "Content-Type": content_type}, BODIES.get(path))
    assert status == 403
    assert "OPENENV_ALLOWED_ORIGINS" in body["detail"]
    assert "access-control-allow-origin" not in response.headers


def test_twenty_cross_site_session_creations_make_no_session(echo):
    """The probe's attack: ``fetch`` of ``POST /mcp`` as text/plain needs no CORS preflight."""
    before = echo.sessions()
    replies = [echo.request("POST", "/mcp", {"Host": echo.me, "Origin": EVIL, "Content-Type": "text/plain"},
                            CREATE)[0] for _ in range(20)]
    assert replies == [403] * 20
    assert echo.sessions() == before


@pytest.mark.parametrize("content_type", ["text/plain", "text/plain;charset=UTF-8", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", None])
@pytest.mark.parametrize("path", sorted(BODIES))
def test_a_body_that_is_not_json_is_refused(echo, path, content_type):
    headers = {"Host": echo.me} | ({"Content-Type": content_type} if content_type else {})
    before = echo.sessions()
    status, body, _ = echo.request("POST", path, headers, BODIES[path])
    assert status == 415
    assert "Content-Type: application/json" in body["detail"]
    assert echo.sessions() == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_bodies_and_bodyless_posts_are_served(echo, content_type):
    headers = {"Host": echo.me, "Content-Type": content_type}
    assert echo.request("POST", "/step", headers, BODIES["/step"])[1]["observation"]["echoed_message"] == "hi"
    assert echo.request("POST", "/reset", {"Host": echo.me})[0] == 200  # no body: nothing to check
    assert echo.request("POST", "/mcp", headers, TOOLS)[1]["result"]["tools"]


async def test_the_servers_own_page_is_served(echo):
    """The web interface at /web: same origin for its requests and its WebSocket."""
    origin = f"http://{echo.me}"
    headers = {"Host": echo.me, "Origin": origin, "Content-Type": "application/json"}
    assert echo.request("POST", "/web/step", headers, BODIES["/web/step"])[0] == 200
    async with websockets.connect(echo.url.replace("http", "ws") + "/ws", origin=origin) as ws:
        await ws.send(json.dumps({"type": "reset", "data": {}}))
        assert json.loads(await ws.recv())["type"] == "observation"


def test_clients_without_origin_work_and_get_no_cors_headers(echo):
    with SyncEnvClient(echo.url) as client:
        assert client.step({"message": "ok"}).observation["echoed_message"] == "ok"
    response = httpx.post(echo.url + "/reset", json={"seed": 1})
    assert response.status_code == 200
    assert not [name for name in response.headers if name.startswith("access-control-")]


async def test_our_clients_say_what_to_configure_when_refused(echo, monkeypatch):
    """A name this machine resolves to 127.0.0.1 (an /etc/hosts alias) is not one the server
    knows: the client's error carries the server's reason."""
    resolve = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, *args, **kwargs: resolve("127.0.0.1" if host == "alias.test" else host,
                                                              *args, **kwargs))
    url = f"http://alias.test:{echo.address[1]}"
    with pytest.raises(TransportError, match="HTTP 400.*OPENENV_ALLOWED_HOSTS=alias.test"):
        SyncEnvClient(url).connect()
    with pytest.raises(TransportError, match="HTTP 400.*OPENENV_ALLOWED_HOSTS=alias.test"):
        await EnvClient(url).connect()


def _preflight(server: Server, origin: str, host: str | None = None) -> http.client.HTTPResponse:
    return server.request("OPTIONS", "/step", {"Host": host or server.me, "Origin": origin,
                                               "Access-Control-Request-Method": "POST",
                                               "Access-Control-Request-Headers": "content-type,authorization"})[2]


@pytest.fixture(scope="module")
def configured() -> Iterator[Server]:
    """A server told its public name and the one other site whose pages may use it, and a token."""
    with servers.serving(ECHO, {"OPENENV_ALLOWED_HOSTS": "envs.example, .lab.example",
                                "OPENENV_ALLOWED_ORIGINS": "https://app.example",
                                "OPENENV_TOKEN": "tok-origins"}) as provider:
        yield Server(provider.start())


@pytest.mark.parametrize(("host", "status"), [("envs.example", 200), ("gpu1.lab.example:8000", 200),
                                              ("127.0.0.1", 200), ("evil.example", 400),
                                              ("envs.example.evil.example", 400)])
def test_configured_hosts_are_answered(configured, host, status):
    headers = {"Host": host, "Authorization": "Bearer tok-origins"}
    assert configured.request("GET", "/schema", headers)[0] == status


def test_a_configured_origin_gets_cors_and_its_websocket(configured):
    allowed = _preflight(configured, "https://app.example")
    assert allowed.status == 200  # the preflight carries no token
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert _preflight(configured, EVIL).status == 403
    status, _ = configured.handshake("/ws", {"Host": configured.me, "Origin": "https://app.example",
                                             "Authorization": "Bearer tok-origins"})
    assert status == 101
    assert configured.handshake("/ws", {"Host": configured.me, "Origin": EVIL,
                                        "Authorization": "Bearer tok-origins"})[0] == 403


def test_star_allows_any_host_and_origin():
    with servers.serving(ECHO, {"OPENENV_ALLOWED_HOSTS": "*", "OPENENV_ALLOWED_ORIGINS": "*"}) as provider:
        server = Server(provider.start())
        assert server.request("GET", "/schema", {"Host": "evil.example", "Origin": EVIL})[0] == 200
        assert server.handshake("/ws", {"Host": "evil.example", "Origin": EVIL})[0] == 101
        assert _preflight(server, EVIL).headers["access-control-allow-origin"] == "*"


def test_create_app_keywords():
    """``create_app(allowed_hosts=..., allowed_origins=...)`` (tests.support.apps:behind_a_name)."""
    with servers.serving("tests.support.apps:behind_a_name") as provider:
        server = Server(provider.start())
        assert server.request("GET", "/schema", {"Host": "envs.example"})[0] == 200
        assert server.request("GET", "/schema", {"Host": "evil.example"})[0] == 400
        assert server.handshake("/ws", {"Host": server.me, "Origin": "https://app.example"})[0] == 101
        assert server.handshake("/ws", {"Host": server.me, "Origin": EVIL})[0] == 403


def _network_address() -> str:
    """An IPv4 address of this machine that is not a loopback one."""
    psutil = pytest.importorskip("psutil")
    addresses = [a.address for nic in psutil.net_if_addrs().values() for a in nic
                 if a.family == socket.AF_INET and not a.address.startswith("127.")]
    if not addresses:
        pytest.skip("this machine has no network address besides loopback")
    return addresses[0]


@pytest.mark.parametrize("hosts", [None, "localhost"], ids=["default", "configured"])
def test_a_server_on_every_address_checks_the_host_of_loopback_requests(hosts, monkeypatch):
    """Bound to 0.0.0.0 (containers, ``--host 0.0.0.0``): reached from the network under names it
    cannot know, it answers any Host unless configured; reached on loopback, only its names."""
    if hosts is not None:
        monkeypatch.setenv("OPENENV_ALLOWED_HOSTS", hosts)
    address = _network_address()
    with ProcessProvider(ECHO, host="0.0.0.0") as provider:
        url = provider.start()
        port = url.rsplit(":", 1)[1]
        loopback, network = Server(f"http://127.0.0.1:{port}"), Server(url, address=address)
        assert loopback.request("GET", "/schema", {"Host": "evil.example"})[0] == 400
        assert network.request("GET", "/schema", {"Host": "evil.example"})[0] == (400 if hosts else 200)
        assert network.request("GET", "/schema", {"Host": f"{address}:{port}"})[0] == 200
        assert network.handshake("/ws", {"Host": f"{address}:{port}", "Origin": EVIL})[0] == 403
        with SyncEnvClient(url) as client:  # the provider's own URL, http://0.0.0.0:port
            assert client.reset().done is False


ATTACK = """async ([target, create]) => {
    for (let i = 0; i < 20; i++)  // the probe's "simple" request: the browser sends it without asking
        await fetch(target + "/mcp", {method: "POST", mode: "no-cors", body: create,
                                      headers: {"Content-Type": "text/plain"}}).catch(() => null);
    const schema = await fetch(target + "/schema").then((r) => r.status, () => "failed");
    const socket = await new Promise((resolve) => {
        const ws = new WebSocket(target.replace("http", "ws") + "/ws");
        ws.onopen = () => { ws.send(JSON.stringify({type: "reset", data: {}})); };
        ws.onmessage = (event) => { ws.close(); resolve(JSON.parse(event.data).type); };
        ws.onerror = () => resolve("refused");
    });
    return {schema, socket};
}"""


@pytest.mark.needs_chromium
@pytest.mark.parametrize("attack", ["cross-site", "dns-rebinding"])
def test_a_page_in_a_real_browser_cannot_drive_the_server(echo, attack):
    """Chromium opens an attacker's page (served by Playwright's router: no network) that
    drives the echo server: from another origin, or from a name resolved to 127.0.0.1 (the
    page is then same-origin with the server: only the Host check stands). Chromium's own
    local-network checks are off, as in browsers that have none."""
    from playwright.sync_api import sync_playwright

    port = echo.address[1]
    page_url = {"cross-site": "http://localhost:1/attack", "dns-rebinding": f"http://rebind.test:{port}/attack"}[attack]
    target = {"cross-site": echo.url, "dns-rebinding": f"http://rebind.test:{port}"}[attack]
    before = echo.sessions()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--host-resolver-rules=MAP rebind.test 127.0.0.1",
            "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessRespectPreflightResults"])
        try:
            page = browser.new_page()
            page.route(page_url, lambda route: route.fulfill(body="<html><body>cute cats</body></html>",
                                                             content_type="text/html"))
            page.goto(page_url)
            outcome = page.evaluate(ATTACK, [target, CREATE.decode()])
        finally:
            browser.close()
    assert echo.sessions() == before
    assert outcome["socket"] == "refused"
    assert outcome["schema"] in ("failed", 400)  # cross-site: unreadable anyway; rebinding: refused
