"""report.html: the report document rendered as one self-contained page a person reads.

One file, inline CSS (report.css) and no image, font or link to anything outside it, so it opens from
file://, from a zip, from a mail attachment, years later. Its one script is inline (page.html) and only
unpacks evidence: a test with more exchanges than report.json inlines (a contract test sends hundreds) carries
all of them rendered, gzip-compressed and base64-encoded, and the browser's DecompressionStream unpacks them
when the test is opened — every request and response stays in the page at a tenth of the size.
Order: verdict first, then coverage per area, then
what blocks, then every requirement (blocking ones first and open) with its tests and their masked HTTP
evidence collapsed in <details>, then waivers, leak audit, run metadata and the verdict rules.

Every value is HTML-escaped. A test that proves several requirements shows its evidence once, under the first
requirement, and links there from the others, so the page stays proportionate to the evidence.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from functools import cache
from html import escape
from pathlib import Path
from string import Template
from typing import Any, Final

_HERE: Final = Path(__file__).parent
_GATE_WORDS: Final = {"passed": "passed", "blocking": "BLOCKING", "warning": "warning", "waived": "waived",
                      "not_verifiable": "not verifiable"}
_TEST_GATE: Final = {"passed": "passed", "failed": "blocking", "error": "blocking", "skipped": "warning",
                     "not_verifiable": "not_verifiable", "xfailed": "warning", "advisory": "warning"}


@cache
def _asset(name: str) -> str:
    return (_HERE / name).read_text(encoding="utf-8")


def e(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def _anchor(prefix: str, value: str) -> str:
    return f"{prefix}-{hashlib.sha1(value.encode()).hexdigest()[:12]}"


def _badge(gate: str, text: str | None = None) -> str:
    return f'<span class="badge g-{e(gate)}">{e(text or _GATE_WORDS.get(gate, gate))}</span>'


def _pretty(body: str | None, mime: str) -> str:
    if body is None or body == "":
        return '<p class="muted">(no body)</p>'
    text = body
    if "json" in mime.lower() or body.lstrip()[:1] in "{[":
        with contextlib.suppress(ValueError):
            text = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return f"<pre>{e(text)}</pre>"


def _headers(rows: Iterable[dict[str, str]]) -> str:
    items = "".join(f"<tr><td>{e(h['name'])}</td><td>{e(h['value'])}</td></tr>" for h in rows)
    return f'<table class="headers">{items}</table>' if items else '<p class="muted">(no headers)</p>'


def _exchange(x: dict[str, Any]) -> str:
    req, resp = x["request"], x["response"]
    status = resp["status"]
    shown = f"{status} {resp['status_text']}".strip() if status else f"no response ({x.get('error') or 'error'})"
    extra = f" · attempt {x['attempt']}" if x.get("attempt") and x["attempt"] > 1 else ""
    op = f"{x['operation']}: " if x.get("operation") else ""
    return (
        f'<details class="exchange"><summary>{e(op)}{e(req["method"])} {e(req["url"])} → '
        f'<span class="status-{str(status)[:1]}">{e(shown)}</span> <span class="muted">'
        f"({x['time_ms']:.0f} ms{e(extra)})</span></summary>"
        f'<div class="exchange-grid"><div><h4>Request</h4>{_headers(req["headers"])}{_pretty(req["body"], req["mime"])}'
        f'</div><div><h4>Response</h4>{_headers(resp["headers"])}{_pretty(resp["body"], resp["mime"])}</div></div>'
        f"</details>"
    )


#: With the evidence at hand, a test with more exchanges than this has them packed (gzip + base64) in the page,
#: unpacked when opened: every test, since plain exchanges were most of a 5 MB page.
PLAIN_EXCHANGES = 0


def _packed(fragments: list[str]) -> str:
    """The rendered exchanges of one module's tests (a JSON list, one string per test), gzip'd and base64'd
    for the page's unpacking script. One block per module, not per test: the tests of a module repeat the
    same requests and answers, and compressed together they take half the room they took one by one."""
    import base64
    import gzip

    data = json.dumps(fragments, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(data, compresslevel=9, mtime=0)).decode("ascii")


class _Renderer:
    def __init__(self, report: dict[str, Any], evidence: Any = None) -> None:
        self.r = report
        self.evidence = evidence
        self.tests = {t["nodeid"]: t for t in report["tests"]}
        self.shown: dict[str, str] = {}  # test node id -> requirement id it is shown under
        self.packs: dict[str, list[str]] = {}  # test module -> the rendered exchanges of its tests, in order

    def _test(self, nodeid: str, rid: str) -> str:
        test = self.tests.get(nodeid)
        if test is None:
            return f"<li><code>{e(nodeid)}</code> <span class='muted'>(no record)</span></li>"
        gate = _TEST_GATE.get(test["outcome"], "warning")
        label = test["outcome"] + (f" · {test['classification']}" if test["classification"] else "")
        exchanges = test["evidence"]["exchanges"]
        anchor = _anchor("t", nodeid)
        if nodeid in self.shown:
            first = self.shown[nodeid]
            return (f'<div class="test-ref">{_badge(gate, label)} <code>{e(nodeid)}</code> — evidence shown under '
                    f'<a href="#{_anchor("t", nodeid)}">{e(first)}</a></div>')
        self.shown[nodeid] = rid
        message = f'<pre class="message">{e(test["message"])}</pre>' if test["message"] else ""
        har = (f'<p class="muted">HAR file: <code>{e(test["evidence"]["file"])}</code> · also proves: '
               f'{e(", ".join(r for r in test["requirements"] if r != rid) or "—")}</p>')
        count = int(test["evidence"].get("count", len(exchanges)))
        if count > PLAIN_EXCHANGES and self.evidence is not None:
            full = self.evidence.exchanges(test["nodeid"])
            fragment = self.evidence.memo("html", test["nodeid"], lambda: "".join(_exchange(x) for x in full))
            module = test["nodeid"].split("::", 1)[0]
            part = self.packs.setdefault(module, [])
            part.append(fragment)
            body = (f'<div class="exchanges-packed" data-pack="{_anchor("p", module)}" data-part="{len(part) - 1}">'
                    f'<p class="muted">unpacked when opened</p></div>')
        else:
            body = "".join(_exchange(x) for x in exchanges) or '<p class="muted">(no HTTP exchange recorded)</p>'
            if count > len(exchanges):
                body += f'<p class="muted">… and {count - len(exchanges)} more in the HAR file</p>'
        is_open = " open" if gate == "blocking" else ""  # a failed test shows its message; exchanges stay shut
        return (f'<details class="test" id="{anchor}"{is_open}><summary>{_badge(gate, label)} <code>{e(nodeid)}</code> '
                f'<span class="muted">({count} exchange{"s" if count != 1 else ""}, '
                f'{test["duration"]:.2f} s)</span></summary>'
                f'<div class="test-body">{message}{har}{body}</div></details>')

    def _requirement(self, req: dict[str, Any]) -> str:
        gate = req["gate"]
        waiver = req["waiver"]
        wtext = (f"{e(waiver['status'])}: {e(waiver['owner'])}, until {e(waiver['expiry'])} — {e(waiver['reason'])}"
                 if waiver else "—")
        tests = "".join(self._test(t, req["id"]) for t in req["tests"]) or '<p class="muted">No test names this ' \
                                                                           "requirement.</p>"
        is_open = " open" if gate == "blocking" else ""
        return (
            f'<article class="req gate-{e(gate)}" id="{_anchor("r", req["id"])}"><details{is_open}><summary>'
            f'{_badge(gate)} <span class="badge o-tag">{e(req["outcome"])}</span> '
            f'<code class="rid">{e(req["id"])}</code>'
            f'<span class="title">{e(req["title"])}</span><span class="meta">{e(req["api"])} · {e(req["kind"])} · '
            f'{e(req["weight"])} · {e(req["provenance"])}</span></summary><div class="req-body"><dl>'
            f"<dt>why</dt><dd>{e(req['reason'])}</dd><dt>outcome</dt><dd>{e(req['outcome'])}</dd>"
            f"<dt>weight</dt><dd>{e(req['weight'])}</dd><dt>provenance</dt><dd>{e(req['provenance'])}</dd>"
            f"<dt>source</dt><dd>{e(req['source'])}</dd>"
            f"<dt>simulator-only</dt><dd>{'yes' if req['simulator_only'] else 'no'}</dd>"
            f"<dt>waiver</dt><dd>{wtext}</dd><dt>tests</dt><dd>{len(req['tests'])}</dd></dl>{tests}</div>"
            f"</details></article>"
        )

    def header(self) -> str:
        run, verdict = self.r["run"], self.r["verdict"]
        ready = verdict["ready"]
        reasons = "".join(f"<li>{e(x)}</li>" for x in verdict["reasons"])
        cert = (f"valid until {run['certificate_expires_at'][:10]}" if ready else "none (not ready)")
        facts = [("target", run["target"]), ("APIs", ", ".join(run["apis"])), ("run id", run["run_id"]),
                 ("operator", run["operator"]), ("finished", run["finished_at"]), ("certificate", cert),
                 ("harness", run["harness_version"]),
                 *((f"{api} API", v["openapi"] or v["catalog"] or "?")
                   for api, v in (run.get("api_versions") or {}).items())]
        dl = "".join(f"<div><dt>{e(k)}</dt><dd>{e(v)}</dd></div>" for k, v in facts)
        return (
            f'<header class="verdict {"ready" if ready else "not-ready"}"><div>'
            f'<div class="brand">paycert certification report</div>'
            f'<h1 id="verdict">{"READY for go-live" if ready else "NOT READY for go-live"}</h1>'
            + (f'<p class="summary">{e(verdict["summary"])}</p>' if ready else
               f'<p class="summary">Blocking go-live:</p><ul class="reasons">{reasons}</ul>')
            + self._regression_line()
            + f'<dl class="facts">{dl}</dl></div></header>'
        )

    def _regression_line(self) -> str:
        section = self.r.get("baseline") or {}
        n = len(section.get("regressions", []))
        if not n:
            return ""
        return (f'<p class="summary"><a href="#baseline"><strong>The run fails: {n} regression(s) against run '
                f'{e(section["run_id"])}</strong></a> (passed there, fail now).</p>')

    def baseline(self) -> str:
        """Against --baseline RUN: regressions first (they fail the run), then every other change."""
        section = self.r.get("baseline")
        if not section:
            return ""
        regressions = [c for c in section["changes"] if c["regression"]]
        head = (f'<p><strong>{len(regressions)} regression(s)</strong>: passed in run '
                f'{e(section["run_id"])}, fail now. Each fails this run.</p>' if regressions else
                f'<p>No regression against run {e(section["run_id"])}.</p>')
        rows = "".join(
            f'<tr><td class=mono><a href="#{_anchor("r", c["requirement"])}">{e(c["requirement"])}</a></td>'
            f'<td>{_badge("blocking", "REGRESSION") if c["regression"] else e(c["change"])}</td>'
            f'<td>{e(c["before"] or "—")}</td><td>{e(c["after"] or "—")}</td><td>{e(c["title"])}</td></tr>'
            for c in section["changes"])
        table = (f"<table><tr><th>requirement</th><th>change</th><th>before</th><th>after</th><th>title</th></tr>"
                 f"{rows}</table>" if rows else '<p class="muted">No behavioural difference.</p>')
        return (f'<section id="baseline"><h2>Regressions and changes since run {e(section["run_id"])}</h2>'
                f'{head}{table}</section>')

    def nav(self) -> str:
        blocking = len(self.r["verdict"]["blocking"])
        links = [*([("#baseline", f"Regressions ({len(self.r['baseline']['regressions'])})")]
                   if self.r.get("baseline") else []),
                 ("#coverage", "Coverage"), ("#attention", f"Blocking ({blocking})"),
                 ("#requirements", f"Requirements ({len(self.r['requirements'])})"),
                 ("#boundaries", f"Boundaries ({len(self.r.get('boundaries', []))})"), ("#waivers", "Waivers"),
                 ("#leak-audit", "Leak audit"), ("#run", "Run"), ("#rules", "Verdict rules")]
        return '<nav class="toc"><div>' + "".join(f'<a href="{h}">{e(t)}</a>' for h, t in links) + "</div></nav>"

    @staticmethod
    def _bar(c: dict[str, int]) -> str:
        total = max(c["total"], 1)
        parts = [("b-pass", c["passed"]), ("b-block", c["blocking"]), ("b-warn", c["warning"]),
                 ("b-waive", c["waived"]), ("b-nv", c["not_verifiable"])]
        spans = "".join(f'<span class="{cls}" style="width:{100 * n / total:.2f}%"></span>' for cls, n in parts if n)
        return f'<div class="bar" title="passed {c["passed"]} of {c["total"]}">{spans}</div>'

    def coverage(self) -> str:
        cov = self.r["coverage"]
        head = ("<tr><th>API</th><th>area</th><th class=num>tested</th><th class=num>passed</th>"
                "<th class=num>failed</th><th class=num>infra</th><th class=num>skipped</th>"
                "<th class=num>not verifiable</th><th class=num>waived</th><th class=num>untested</th><th></th></tr>")

        def row(api: str, label: str, c: dict[str, int], cls: str = "") -> str:
            return (f'<tr class="{cls}"><td>{e(api)}</td><td>{e(label)}</td>'
                    f'<td class=num>{c["tested"]}/{c["total"]}</td><td class=num>{c["passed"]}/{c["total"]}</td>'
                    f'<td class=num>{c["failed"]}</td><td class=num>{c["infrastructure"]}</td>'
                    f'<td class=num>{c["skipped"]}</td><td class=num>{c["not_verifiable"]}</td>'
                    f'<td class=num>{c["waived"]}</td><td class=num>{c["untested"]}</td><td>{self._bar(c)}</td></tr>')

        rows: list[str] = []
        for api in cov["apis"]:
            rows.extend(row(api["api"], a["label"], a) for a in cov["areas"] if a["api"] == api["api"])
            rows.append(row(api["api"], "all requirements", api, "api-total"))
        t = cov["total"]
        headline = (f"{t['tested']}/{t['total']} requirements have a test, {t['passed']}/{t['total']} passed. "
                    + " · ".join(f"{a['passed']}/{a['total']} {a['label']}" for a in cov["areas"]))
        return (f'<section id="coverage"><h2>Coverage</h2><p>{e(headline)}</p>'
                f"<table>{head}{''.join(rows)}</table></section>")

    def attention(self) -> str:
        by_id = {r["id"]: r for r in self.r["requirements"]}
        v = self.r["verdict"]

        def items(ids: list[str]) -> str:
            return "".join(f'<li><a href="#{_anchor("r", i)}"><code>{e(i)}</code></a> {e(by_id[i]["title"])} — '
                           f'<span class="muted">{e(by_id[i]["reason"])}</span></li>' for i in ids if i in by_id)

        parts = []
        if v["blocking"]:
            parts.append(f'<div class="callout"><strong>{len(v["blocking"])} requirement(s) block go-live</strong>'
                         f"<ul>{items(v['blocking'])}</ul></div>")
        elif not v["ready"]:
            reasons = "".join(f"<li>{e(x)}</li>" for x in v["reasons"])
            parts.append(f'<div class="callout"><strong>No requirement blocks go-live, but this run cannot certify:'
                         f"</strong><ul>{reasons}</ul></div>")
        else:
            parts.append('<div class="callout ok"><strong>Nothing blocks go-live.</strong></div>')
        if v["warnings"]:
            parts.append(f'<div class="callout warn"><strong>{len(v["warnings"])} advisory warning(s)</strong>'
                         f"<ul>{items(v['warnings'])}</ul></div>")
        if v["not_verifiable"]:
            parts.append(f'<div class="callout warn"><strong>{len(v["not_verifiable"])} requirement(s) not '
                         f"verifiable on this target</strong> (simulator-only by catalog; never counted as passed)"
                         f"<ul>{items(v['not_verifiable'])}</ul></div>")
        if v["stale_waivers"]:
            parts.append(f'<div class="callout warn"><strong>Waivers no longer needed</strong> (the requirement '
                         f"passes; remove the waiver)<ul>{items(v['stale_waivers'])}</ul></div>")
        if v["unmapped_failures"]:
            lis = "".join(f'<li><a href="#{_anchor("t", t)}"><code>{e(t)}</code></a></li>'
                          for t in v["unmapped_failures"])
            parts.append(f'<div class="callout"><strong>{len(v["unmapped_failures"])} failed suite test(s) naming no '
                         f"requirement</strong><ul>{lis}</ul></div>")
        if v["unmapped_tests"]:
            parts.append(f'<div class="callout warn"><strong>{len(v["unmapped_tests"])} suite test(s) name no '
                         f'requirement</strong> (they prove nothing for the gate; see <a href="#other-tests">other '
                         f"suite tests</a>)</div>")
        errors = self.r["run"]["pytest"]["collection_errors"]
        if errors:
            lis = "".join(f"<li><code>{e(x['nodeid'])}</code><pre>{e(x['message'])}</pre></li>" for x in errors)
            parts.append(f'<div class="callout"><strong>Suite collection errors</strong><ul>{lis}</ul></div>')
        return f'<section id="attention"><h2>What blocks go-live</h2>{"".join(parts)}</section>'

    def requirements(self) -> str:
        body = "".join(self._requirement(r) for r in self.r["requirements"])
        return (f'<section id="requirements"><h2>Requirements</h2><p class="muted">Blocking first, then warnings, '
                f"waived, not verifiable and passed. Evidence is masked: card numbers show the first six and last "
                f"four digits, credentials are removed. A test's exchanges are unpacked when it is opened (a "
                f"browser from 2023 or later; each test names the HAR file that holds the same).</p>{body}</section>")

    def other_tests(self) -> str:
        unmapped = self.r["verdict"]["unmapped_tests"]
        if not unmapped:
            return ""
        failed = set(self.r["verdict"]["unmapped_failures"])
        ordered = sorted(unmapped, key=lambda t: t not in failed)
        body = "".join(self._test(t, "(no requirement)") for t in ordered)
        return (f'<section id="other-tests"><h2>Other suite tests</h2><p class="muted">Tests that name no catalog '
                f"requirement, failed ones first.</p>{body}</section>")

    def waivers(self) -> str:
        rows = "".join(
            f"<tr><td><code>{e(w['requirement'])}</code></td><td>{e(w['owner'])}</td><td>{e(w['reason'])}</td>"
            f"<td>{e(w['expiry'])}</td><td>{e(w['status'])}</td><td>{e(w['note'])}</td></tr>"
            for w in self.r["waivers"])
        table = (f"<table><tr><th>requirement</th><th>owner</th><th>reason</th><th>expiry</th><th>status</th>"
                 f"<th>note</th></tr>{rows}</table>") if rows else "<p>No waivers.</p>"
        return f'<section id="waivers"><h2>Waivers</h2>{table}</section>'

    def leak(self) -> str:
        audit = self.r["leak_audit"]
        rows = "".join(f"<tr><td><code>{e(f['file'])}</code></td><td class=num>{f['line']}:{f['column']}</td>"
                       f"<td class=num>{f['offset']}</td><td>{e(f['kind'])}</td><td><code>{e(f['masked'])}</code></td>"
                       f"</tr>" for f in audit["findings"])
        status = {"clean": "clean: no card number or secret in any artefact",
                  "leaks_found": f"{len(audit['findings'])} finding(s): the run fails",
                  "not_run": "not run"}[audit["status"]]
        table = (f"<table><tr><th>file</th><th class=num>line:col</th><th class=num>byte</th><th>kind</th>"
                 f"<th>masked</th></tr>{rows}</table>") if rows else ""
        rules = "".join(f"<li>{e(x)}</li>" for x in audit["rules"])
        return (f'<section id="leak-audit"><h2>Leak audit</h2><p><strong>{e(status)}</strong> '
                f'({audit["files_scanned"]} files scanned)</p>{table}<ul class="muted">{rules}</ul></section>')

    def run(self) -> str:
        run = self.r["run"]
        rows: list[tuple[str, str]] = [
            ("run id", run["run_id"]), ("target", run["target"]), ("APIs", ", ".join(run["apis"])),
            ("simulator", run["simulator"] or "—"),
            *((f"base URL {api}", url) for api, url in run["base_urls"].items()),
            ("operator", run["operator"]), ("started", run["started_at"]), ("finished", run["finished_at"]),
            ("duration", f"{run['duration_seconds']:.1f} s"), ("certificate expires", run["certificate_expires_at"]),
            ("harness version", run["harness_version"]),
            *((f"API version {api}", f"catalog {v['catalog'] or '?'}, OpenAPI {v['openapi'] or '?'}")
              for api, v in (run.get("api_versions") or {}).items()),
            *([("fixtures", run["fixtures"])] if run.get("fixtures") else []),
            *((f"catalog {c['file']}", f"sha256 {c['sha256']}") for c in run["catalog"]),
            *((f"OpenAPI {o['api']}", f"sha256 {o['sha256']}" if o["sha256"] else f"not hashed: {o['error']}")
              for o in run["openapi"]),
            ("pytest exit code", str(run["pytest"]["exit_code"])), ("workers", str(run["pytest"]["workers"])),
            ("tests collected", str(run["pytest"]["collected"])),
            *((f"contract cases {api}", f"{sum(kinds.values())} generated and checked ("
               + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")
              for api, kinds in run["pytest"].get("generated_cases", {}).items()),
        ]
        if run["suites"]:
            rows.append(("suites", f"{run['suites']['path']} ({run['suites']['files']} files, sha256 "
                                   f"{run['suites']['sha256']})"))
        if run["waiver_file"]:
            rows.append(("waiver file", f"{run['waiver_file']['path']} (sha256 {run['waiver_file']['sha256']})"))
        for spent in run.get("requests", []):
            rows.append((f"requests {spent['api']}", f"{spent['requests']} with key {spent['key']}, "
                                                    f"{spent['rate_limited']} answered 429 unplanned, "
                                                    f"{spent.get('provoked_429', 0)} provoked on purpose"))
        if run.get("resumed_from"):
            rows.append(("resumed from", run["resumed_from"]))
        body = "".join(f"<tr><th>{e(k)}</th><td class=mono>{e(v)}</td></tr>" for k, v in rows)
        notes = "".join(f"<li>{e(n)}</li>" for n in self.r["notes"])
        return (f'<section id="run"><h2>Run</h2><table>{body}</table>'
                f'{f"<ul class=muted>{notes}</ul>" if notes else ""}</section>')

    def boundaries(self) -> str:
        """Per requirement with a number: each boundary, and the outcome of its inside and outside test."""
        gate = {"passed": "passed", "failed": "blocking", "error": "blocking", "untested": "blocking"}
        rows = []
        for b in self.r.get("boundaries", []):
            sides = "".join(
                f"<td>{_badge(gate.get(b[s]['outcome'], 'not_verifiable'), b[s]['outcome'])} {e(b[s]['expect'])}</td>"
                for s in ("inside", "outside"))
            where = f"<br><code class=muted>{e(b['ref'])}</code>" if b["ref"] else ""
            rows.append(f"<tr><td><code>{e(b['requirement'])}</code></td><td><code>{e(b['id'])}</code></td>"
                        f"<td>{e(b['value'])}{where}</td><td>{e(b['provenance'])}</td>{sides}</tr>")
        table = ("<table><tr><th>requirement</th><th>boundary</th><th>number</th><th>provenance</th>"
                 f"<th>at the number (inside)</th><th>one unit beyond (outside)</th></tr>{''.join(rows)}</table>"
                 if rows else "<p>No requirement in scope states a number.</p>")
        return (f'<section id="boundaries"><h2>Boundaries</h2><p class="muted">Every number a requirement states, '
                f"checked at the number and one unit beyond it.</p>{table}</section>")

    def assumptions(self) -> str:
        """Sandbox: adopted requirements the sandbox did not confirm, expected beside observed (report.calibration)."""
        section = self.r.get("unconfirmed_assumptions") or []
        if not section:
            return ""
        rows = []
        for a in section:
            observations = a["observations"] or [{"entry": "—", "field": "—", "expected": "—",
                                                  "observed": "no observation recorded: see the evidence"}]
            evidence = ", ".join(f'<a href="{e(f)}">{e(f.split("/")[-1])}</a>' for f in a["evidence"]) or "—"
            for o in observations:
                rows.append(f"<tr><td><code>{e(a['requirement'])}</code><br>{e(a['title'])}</td>"
                            f"<td><code>{e(str(o['entry']))}</code> {e(str(o['field']))}</td>"
                            f"<td class=mono>{e(repr(o['expected']))}</td><td class=mono>{e(repr(o['observed']))}</td>"
                            f"<td>{evidence}</td></tr>")
        return (f'<section id="unconfirmed"><h2>Unconfirmed assumptions</h2><p class="muted">Adopted requirements '
                f"(our reasoned guesses where the documents are silent) that this sandbox answered differently. They "
                f"block like failures; review them and run <code>paycert calibrate {e(self.r['run']['run_id'])}"
                f"</code> to adopt the observed behaviour, then certify again.</p><table><tr><th>requirement</th>"
                f"<th>catalog value</th><th>expected</th><th>observed</th><th>evidence</th></tr>{''.join(rows)}"
                f"</table></section>")

    def packed(self) -> str:
        """The packed evidence blocks the tests' entries point at (data-pack, data-part); call it last."""
        blocks = []
        for module, fragments in self.packs.items():
            blob = (self.evidence.memo("html-pack", module + "\0" + str(hash(tuple(fragments))),
                                       lambda fragments=fragments: _packed(fragments))
                    if self.evidence is not None else _packed(fragments))
            blocks.append(f'<div hidden class="evidence-pack" id="{_anchor("p", module)}" data-gz="{blob}"></div>')
        return "".join(blocks)

    def rules(self) -> str:
        items = "".join(f"<li>{e(x)}</li>" for x in self.r["verdict"]["rules"])
        return f'<section id="rules"><h2>Verdict rules</h2><ol>{items}</ol></section>'


def render_html(report: dict[str, Any], evidence: Any = None) -> str:
    """The whole page as one string (UTF-8 when written).

    `evidence` (an EvidenceReader) gives the exchanges report.json does not inline; without it the page shows
    the inlined ones and names the HAR file for the rest.
    """
    r = _Renderer(report, evidence)
    run = report["run"]
    verdict = "READY" if report["verdict"]["ready"] else "NOT READY"
    body = (r.header() + r.nav() + "<main>" + r.baseline() + r.coverage() + r.attention() + r.assumptions()
            + r.requirements() + r.boundaries() + r.other_tests() + r.waivers()
            + r.leak() + r.run() + r.rules() + "</main>" + r.packed()
            + f"<footer>paycert {e(run['harness_version'])} · run {e(run['run_id'])} · report.json holds the same "
              f"content for machines</footer>")
    return Template(_asset("page.html")).substitute(
        title=e(f"paycert: {verdict} for go-live — {run['target']} — {run['run_id']}"),
        version=e(run["harness_version"]), css=_asset("report.css"), body=body)
