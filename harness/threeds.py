"""Plays the customer's browser through a Better Payment customer step (3DS challenge or bank redirect).

Why: the seed's flow (000 §4) hands the merchant a `client_action`: `postForm` (POST action_data.fields to
action_data.url, which shows the 3DS page) or `redirect` (send the browser to action_data.url). A suite needs
to get through that step without a real browser. This helper does what a browser does: submit the form,
read the HTML page it gets back (stdlib html.parser), press the button the test chose, follow redirects, and
stop at the merchant's success_url or error_url without requesting them (they are the merchant's pages, not
the gateway's). It is client-side code and never imports the simulator.

    landing = complete_customer_step(client, response.json(), choice="approve",
                                     success_url=body["success_url"], error_url=body["error_url"])
    assert landing.outcome == "success"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from harness.errors import ThreeDSError

__all__ = ["Form", "Landing", "ThreeDSError", "complete_customer_step", "parse_forms"]

_REDIRECTS = (301, 302, 303, 307, 308)


@dataclass
class Form:
    """One HTML form: where it goes, its named inputs and its submit buttons (name, value, label)."""

    action: str
    method: str
    inputs: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)

    def button_for(self, choice: str) -> tuple[str, str, str] | None:
        wanted = choice.strip().casefold()
        for b in self.buttons:
            if wanted in (b[1].strip().casefold(), b[2].strip().casefold()):
                return b
        return None


@dataclass(frozen=True)
class Hop:
    method: str
    url: str
    status: int


@dataclass
class Landing:
    """Where the customer ended: `success`, `error`, or None when the flow ended elsewhere."""

    outcome: Literal["success", "error"] | None
    url: str
    hops: list[Hop] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._button: list[str] | None = None  # [name, value, label text]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._form = Form(action=a.get("action", ""), method=(a.get("method") or "GET").upper())
            self.forms.append(self._form)
            return
        if self._form is None:
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            name = a.get("name", "")
            if kind in ("submit", "image"):
                self._form.buttons.append((name, a.get("value", ""), a.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in a and name:
                    self._form.inputs.append((name, a.get("value", "on")))
            elif kind not in ("button", "reset", "file") and name:
                self._form.inputs.append((name, a.get("value", "")))
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self._button = [a.get("name", ""), a.get("value", ""), ""]

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self._form is not None:
            name, value, label = self._button
            self._form.buttons.append((name, value, label.strip()))
            self._button = None
        elif tag == "form":
            self._form = None


def parse_forms(html: str) -> list[Form]:
    """Every form of an HTML page, in document order."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms


def _same_page(url: str, target: str) -> bool:
    """True when `url` is the merchant page `target` (same scheme, host, port and path; query may differ)."""
    a, b = urlsplit(url), urlsplit(target)
    return (a.scheme.lower(), (a.hostname or "").lower(), a.port, a.path.rstrip("/") or "/") == (
        b.scheme.lower(), (b.hostname or "").lower(), b.port, b.path.rstrip("/") or "/")


def _landing(url: str, success_url: str, error_url: str) -> Literal["success", "error"] | None:
    if _same_page(url, success_url):
        return "success"
    if _same_page(url, error_url):
        return "error"
    return None


def complete_customer_step(
    client: httpx.Client,
    response: Mapping[str, Any],
    *,
    choice: str,
    success_url: str,
    error_url: str,
    max_hops: int = 10,
) -> Landing:
    """Carry out `response`'s client_action as a browser would, pressing the button labelled/valued `choice`.

    Returns where the customer landed. Raises ThreeDSError when there is no client_action, a page answers an
    error, no form offers `choice`, or the flow does not reach a merchant page within `max_hops`.
    """
    action = response.get("client_action")
    data = response.get("action_data")
    if action not in ("postForm", "redirect") or not isinstance(data, Mapping) or not data.get("url"):
        raise ThreeDSError(f"no usable client_action in the response (client_action={action!r})")
    hops: list[Hop] = []

    def send(method: str, url: str, form: list[tuple[str, str]] | None = None) -> httpx.Response:
        params: list[tuple[str, str | int | float | bool | None]] | None = None
        if form is not None and method == "GET":
            params = list(form)
        r = client.request(method, url, data=dict(form) if form is not None and method == "POST" else None,
                           params=params, follow_redirects=False)
        hops.append(Hop(method, str(r.request.url), r.status_code))
        return r

    url = str(data["url"])
    if action == "postForm":
        fields = data.get("fields") or {}
        if not isinstance(fields, Mapping):
            raise ThreeDSError("action_data.fields is not an object")
        r = send("POST", url, [(str(k), str(v)) for k, v in fields.items()])
    else:
        r = send("GET", url)
    for _ in range(max_hops):
        if r.status_code in _REDIRECTS:
            location = r.headers.get("location")
            if not location:
                raise ThreeDSError(f"{r.request.url}: redirect without a Location header")
            target = urljoin(str(r.request.url), location)
            outcome = _landing(target, success_url, error_url)
            if outcome is not None:
                return Landing(outcome, target, hops)
            method = r.request.method if r.status_code in (307, 308) else "GET"
            r = send(method, target)
            continue
        if r.status_code != 200:
            raise ThreeDSError(f"{r.request.url}: answered HTTP {r.status_code}: {r.text[:200]}")
        forms = parse_forms(r.text)
        chosen = next(((f, f.button_for(choice)) for f in forms if f.button_for(choice)), None)
        if chosen is None:
            auto = [f for f in forms if not f.buttons]
            if not auto:
                offered = sorted({b[1] or b[2] for f in forms for b in f.buttons})
                raise ThreeDSError(f"{r.request.url}: no form offers {choice!r} (offered: {offered})")
            form, fields_ = auto[0], list(auto[0].inputs)  # an auto-submitting form (JavaScript in a browser)
        else:
            form, button = chosen
            fields_ = list(form.inputs)
            if button is not None and button[0]:
                fields_.append((button[0], button[1]))
        target = urljoin(str(r.request.url), form.action or str(r.request.url))
        outcome = _landing(target, success_url, error_url)
        if outcome is not None:
            return Landing(outcome, target, hops)
        r = send("POST" if form.method == "POST" else "GET", target, fields_)
    raise ThreeDSError(f"the customer step did not reach success_url or error_url within {max_hops} hops")
