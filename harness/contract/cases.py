"""Generated contract cases, made once per document, seed and settings, and replayed from a cache after that.

Why: schemathesis draws every case of a run with Hypothesis from a fixed seed, so the cases of two runs with
the same document, seed and settings are the same; only the target's answers differ. Generation is most of
the contract suite's CPU (hypothesis-jsonschema, and the coverage phase, which schemathesis' pytest plugin
even runs at collection time, in every xdist worker), so this module separates it from sending:

- ``generate()`` runs the test schemathesis would build for an operation (same config, same per-operation
  seed, same hooks, explicit examples and coverage cases first) with a test body that only keeps each case.
  A Hypothesis test that never fails generates exactly the cases it would generate while sending them, so
  nothing is lost by not interleaving; shrinking is the one thing given up (a failure is reported with the
  case that showed it, as schemathesis' CLI does).
- ``CaseCache`` keeps them on disk, one gzip'd pickle per operation, under a key made of everything the cases
  depend on (``cache_key``): the document's SHA-256, the operation, the kind's generation settings, the seed,
  the realistic-data hooks' source, the library versions. A changed input is a new key, never a stale case.
- The stateful phase is not cached: its next request depends on the last answer.

Values the realistic hooks mint per case (order references, e-mail addresses, idempotency keys) are kept in
the cache as they were drawn; ``refresh`` replaces them with fresh ones at replay, so two runs against one
sandbox never reuse an order reference. The postback and redirect URLs point at a placeholder host during
generation and at the run's receiver at replay (the embedded simulator's port changes every run).

The cache directory is ``$PAYCERT_CACHE_DIR``, by default ``$XDG_CACHE_HOME/paycert`` (``~/.cache/paycert``),
created with mode 0700. It holds generated test data only: the catalog's public test cards and random
digits, never a credential (credentials are sent as explicit headers at call time, not generated).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib.metadata
import os
import pickle
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from harness.cards import random_text

__all__ = [
    "CACHE_DIR_ENV",
    "RECEIVER_PLACEHOLDER",
    "CaseCache",
    "cache_key",
    "default_cache_dir",
    "fresh_value",
    "generate",
    "refresh",
]

CACHE_DIR_ENV: Final = "PAYCERT_CACHE_DIR"
#: Where generated Better Payment requests send postbacks and redirects until replay points them at the run.
RECEIVER_PLACEHOLDER: Final = "https://paycert-receiver.invalid/contract"
_FORMAT: Final = "paycert-contract-cases/1"
#: Prefix of every value the realistic hooks mint per case (see fresh_value); refresh() recognises them by it.
_FRESH_PREFIX: Final = "pcf"
_FRESH: Final = re.compile(rf"{_FRESH_PREFIX}[0-9a-f]{{17}}")
_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_MINTED_UUIDS: set[str] = set()


def fresh_value(kind: str = "token") -> str:
    """A value unique to one case; ``kind="uuid"`` gives a v4 UUID (idempotency keys), else ``pcf`` + 17 hex
    (20 characters, as long as the hooks' references always were)."""
    if kind == "uuid":
        value = str(uuid.uuid4())
        _MINTED_UUIDS.add(value)
        return value
    return f"{_FRESH_PREFIX}{random_text(17)}"  # no digit run a target could mask as a card number


def default_cache_dir(variables: Mapping[str, str]) -> Path:
    """PAYCERT_CACHE_DIR from the run's variables (harness.config.Settings.variables), else the XDG cache."""
    configured = variables.get(CACHE_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or str(Path.home() / ".cache")
    return Path(base) / "paycert"


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def cache_key(*parts: object) -> str:
    """SHA-256 over the parts and the versions of everything that draws cases."""
    versions = ("schemathesis", "hypothesis", "hypothesis-jsonschema", "jsonschema-rs")
    material = repr((_FORMAT, sys.version_info[:2], *(_version(v) for v in versions), *parts))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------ generation


def _is_generator_limitation(exc: BaseException) -> bool:
    """hypothesis-jsonschema failing to build negative data ("not supported in canonical form")."""
    return type(exc).__name__ == "InvalidSchema" and "canonical form" in str(exc)


def generate(schema: Any, label: str, *, retries: int = 5) -> list[Any]:
    """Every case schemathesis' pytest plugin would run for `label`, in its order, without sending any.

    For POST /rest/payment and /rest/register schemathesis' negative phase sometimes fails inside
    hypothesis-jsonschema ("result is not supported in canonical form"): a generator limitation, not an API
    finding. Generation then starts again from the next seeds (at most `retries` of them), as a user would;
    only if every one fails does the error stand.
    """
    from schemathesis.checks import load_all_checks

    load_all_checks()
    operation = schema.find_operation_by_label(label)
    if operation is None:
        raise LookupError(f"{label}: no such operation in the document")
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            return _draw(schema, operation, attempt)
        except Exception as exc:
            if not _is_generator_limitation(exc):
                raise
            last = exc
    assert last is not None
    raise last


def _draw(schema: Any, operation: Any, attempt: int) -> list[Any]:
    import hypothesis
    from schemathesis.generation.feedback import FeedbackSources
    from schemathesis.pytest._test_builder import build_operation_test
    from schemathesis.python._constants.orchestrator import make_constants_value_source

    cases: list[Any] = []

    def keep(case: Any) -> None:
        cases.append(case)

    feedback = FeedbackSources(constants_value_source=make_constants_value_source(schema))
    test = build_operation_test(config=schema.config, operation=operation, test_func=keep, given_kwargs={},
                                feedback=feedback)
    if attempt:
        test._hypothesis_internal_use_seed = (schema.config.seed or 0) + attempt  # type: ignore[attr-defined]
    # `keep` never fails, so Hypothesis only ever shrinks an error raised while drawing (the generator
    # limitation above), for minutes, before the retry from the next seed: no shrinking. The cases drawn are
    # the same, since shrinking starts only after a failure.
    settings = test._hypothesis_internal_use_settings  # type: ignore[attr-defined]
    test._hypothesis_internal_use_settings = hypothesis.settings(  # type: ignore[attr-defined]
        settings, phases=[p for p in settings.phases if p not in (hypothesis.Phase.shrink, hypothesis.Phase.explain)])
    test()
    return cases


# ------------------------------------------------------------------ replay


def _walk(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {k: _walk(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, change) for v in value]
    return value


def refresh(case: Any, urls: Mapping[str, str], *, remint: bool = True) -> None:
    """Point receiver placeholders at this run's URLs (`urls`: placeholder -> URL) and, with `remint`, replace
    the values the realistic hooks minted per case with fresh ones (see the module docstring), in place.

    A stateful step is never re-minted: its values may come from an earlier answer (a created merchant's id).
    """
    mapping: dict[str, str] = {}
    replacements = sorted(urls.items(), key=lambda item: -len(item[0]))

    def change(text: str) -> str:
        if RECEIVER_PLACEHOLDER in text:
            for placeholder, real in replacements:
                text = text.replace(placeholder, real)
        if not remint:
            return text
        if _FRESH_PREFIX in text:
            text = _FRESH.sub(lambda m: mapping.setdefault(m.group(0), fresh_value()), text)
        if text in _MINTED_UUIDS:
            text = mapping.setdefault(text, str(uuid.uuid4()))
        return text

    for name in ("body", "query", "path_parameters"):
        value = getattr(case, name)
        if isinstance(value, dict | list | str):
            new = _walk(value, change)
            if new != value:
                object.__setattr__(case, name, new)
    headers = case.headers
    if headers:
        for name in list(headers):
            value = headers[name]
            if isinstance(value, str):
                new_value = change(value)
                if new_value != value:
                    headers[name] = new_value


_FIELDS: Final = ("method", "path", "id", "path_parameters", "headers", "cookies", "query", "body", "media_type",
                  "multipart_content_types", "_meta")


def _freeze(case: Any, minted: set[str]) -> tuple[Any, ...]:
    fields = tuple(getattr(case, name) for name in _FIELDS)
    uuids = tuple(sorted(v for v in _uuid_strings(case) if v in minted))
    return (*fields, uuids)


def _uuid_strings(case: Any) -> Iterable[str]:
    for name in ("headers", "body"):
        value = getattr(case, name)
        items = value.values() if hasattr(value, "values") else [value]
        for item in items:
            if isinstance(item, str) and _UUID.fullmatch(item):
                yield item


def _thaw(operation: Any, row: tuple[Any, ...]) -> Any:
    from schemathesis.core import NOT_SET, NotSet
    from schemathesis.generation.case import Case

    *fields, uuids = row
    # schemathesis tests `value is NOT_SET` in places; unpickling makes a new NotSet, so restore the singleton.
    values: dict[str, Any] = {name: NOT_SET if isinstance(value, NotSet) else value
                              for name, value in zip(_FIELDS, fields, strict=True)}
    meta = values.pop("_meta")
    _MINTED_UUIDS.update(uuids)
    return Case(operation, values.pop("method"), values.pop("path"), meta=meta, **values)


@dataclass
class CaseCache:
    """Generated cases on disk, one file per key; unreadable or foreign files count as a miss."""

    directory: Path

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.cases.gz"

    def load(self, key: str, operation: Any) -> list[Any] | None:
        path = self._path(key)
        try:
            with gzip.open(path, "rb") as handle:
                stored = pickle.load(handle)  # our own file, in a 0700 directory (see the module docstring)
        except FileNotFoundError:
            return None
        except Exception:  # a truncated or foreign file: generate again and overwrite it
            return None
        if not isinstance(stored, dict) or stored.get("format") != _FORMAT or stored.get("key") != key:
            return None
        try:
            return [_thaw(operation, row) for row in stored["cases"]]
        except Exception:
            return None

    def store(self, key: str, cases: list[Any]) -> None:
        """Write atomically; a cache that cannot be written only costs the next run its speed."""
        with contextlib.suppress(OSError):
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            rows = [_freeze(case, _MINTED_UUIDS) for case in cases]
            tmp = self._path(key).with_suffix(f".{os.getpid()}.tmp")
            with gzip.open(tmp, "wb", compresslevel=6) as handle:
                pickle.dump({"format": _FORMAT, "key": key, "cases": rows}, handle, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(self._path(key))
