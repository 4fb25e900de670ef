"""Firefox ESR through its own WebDriver BiDi, over a websocket: no geckodriver (Debian has none).

`firefox-esr --remote-debugging-port=PORT` serves BiDi at ws://127.0.0.1:PORT/session (ESR 153
speaks BiDi only: CDP, and with it the pref remote.active-protocols, went in Firefox 129). The
client is websocket-client, which Selenium already depends on: synchronous, as the tests are, and
no new package. It must not send an Origin header (suppress_origin): the remote agent refuses a
websocket handshake that carries one it was not told to allow (--remote-allow-origins).
"""

from __future__ import annotations

import json
from typing import Any, cast

import websocket

# What a fresh profile would fetch at start-up before the remote agent's own recommended prefs
# (remote.prefs.recommended, on by default: captive portal, safe browsing, updates, telemetry) are
# in force; and a blank first page.
USER_JS = """\
user_pref("browser.startup.page", 0);
user_pref("browser.startup.homepage", "about:blank");
user_pref("browser.newtabpage.enabled", false);
user_pref("network.captive-portal-service.enabled", false);
user_pref("network.connectivity-service.enabled", false);
user_pref("services.settings.server", "data:,#remote-settings-dummy/v1");
user_pref("app.normandy.enabled", false);
user_pref("browser.safebrowsing.update.enabled", false);
user_pref("network.dns.disablePrefetch", true);
user_pref("network.prefetch-next", false);
user_pref("network.http.speculative-parallel-limit", 0);
"""


class BidiError(RuntimeError):
    """An error answer to a command, or an exception thrown by an evaluated script."""


class Bidi:
    """One BiDi session on one websocket: commands are sent one at a time and their answer
    awaited; the events that come meanwhile are kept in `events`, in order."""

    def __init__(self, port: int, timeout: float) -> None:
        self._ws = websocket.create_connection(
            f"ws://127.0.0.1:{port}/session", timeout=timeout, suppress_origin=True
        )
        self._id = 0
        self._timeout = timeout
        self.events: list[dict[str, Any]] = []
        self.capabilities: dict[str, Any] = self.command("session.new", {"capabilities": {}})[
            "capabilities"
        ]

    def command(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("type") == "event":
                self.events.append(message)
                continue
            if message.get("type") == "error":
                raise BidiError(f"{method}: {message.get('error')}: {message.get('message')}")
            return cast(dict[str, Any], message["result"])

    def drain(self, seconds: float) -> list[dict[str, Any]]:
        """The events kept so far and any that come within `seconds`; forgotten once returned.
        An event may come after the answer to the command that caused it."""
        self._ws.settimeout(seconds)
        try:
            while True:
                self.events.append(json.loads(self._ws.recv()))
        except websocket.WebSocketTimeoutException:
            pass
        finally:
            self._ws.settimeout(self._timeout)
        events, self.events = self.events, []
        return events

    def tab(self) -> str:
        """A new top-level browsing context: its id."""
        return cast(str, self.command("browsingContext.create", {"type": "tab"})["context"])

    def navigate(self, context: str, url: str) -> None:
        self.command(
            "browsingContext.navigate", {"context": context, "url": url, "wait": "complete"}
        )

    def call(self, context: str, function: str, *args: object) -> Any:
        """`function`'s result in the page, the promise awaited. The arguments and the result
        cross as JSON text: BiDi's own serialisation of values is a tree of typed nodes."""
        expression = f"({function})(...{json.dumps(args)}).then((r) => JSON.stringify(r))"
        result = self.command(
            "script.evaluate",
            {"expression": expression, "target": {"context": context}, "awaitPromise": True},
        )
        if result["type"] == "exception":
            details = result["exceptionDetails"]
            raise BidiError(f"script threw: {details.get('text')}")
        return json.loads(result["result"]["value"])

    def close(self) -> None:
        try:
            self.command("session.end", {})
        finally:
            self._ws.close()
