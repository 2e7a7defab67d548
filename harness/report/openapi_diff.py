"""The difference between two versions of an API's OpenAPI document, breaking changes first.

QA gets a new API version's document and asks what an integration must change. No well-kept Python library
does this (oasdiff, the reference tool, is Go), so this is a small walker over both documents, following local
`$ref`s with harness.openapi.resolve_in. It compares what a client depends on:

- operations (method + path): removed is breaking, added is info;
- parameters (in + name): removed is a warning, added-required or made-required is breaking;
- request bodies and responses per status code and media type: a removed status code or media type is
  breaking, an added status code a warning (the client may not handle it);
- schemas, recursively through properties, items, allOf (merged) and oneOf/anyOf (by position): a removed field
  is breaking; a changed type is breaking unless it only widens what a request accepts or narrows what a
  response sends; enum values removed from a request or added to a response are breaking / a warning (a client
  switch over the values meets one it does not know); a field newly required in a request, or no longer
  required in a response, is breaking.

A schema reached through `#/components/schemas/X` is reported once under `components.schemas.X`, with the
operations that use it, so a change to a shared object is one line, not one per operation.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from harness.openapi import HTTP_METHODS, OpenAPIError, resolve_in
from harness.report.errors import ReportError

Severity = Literal["breaking", "warning", "info"]
Context = Literal["request", "response"]
_RANK: Final = {"breaking": 0, "warning": 1, "info": 2}
_COMPONENT: Final = "#/components/schemas/"
_MAX_DEPTH: Final = 40


@dataclass
class ApiChange:
    severity: Severity
    kind: str
    location: str
    detail: str
    used_by: list[str] = field(default_factory=list)

    @property
    def breaking(self) -> bool:
        return self.severity == "breaking"

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "kind": self.kind, "location": self.location, "detail": self.detail,
                "used_by": list(self.used_by)}


@dataclass(frozen=True)
class OpenApiDiff:
    a_name: str
    b_name: str
    a_version: str | None
    b_version: str | None
    changes: tuple[ApiChange, ...]

    @property
    def identical(self) -> bool:
        return not self.changes

    @property
    def breaking(self) -> tuple[ApiChange, ...]:
        return tuple(c for c in self.changes if c.breaking)


def load_document(path: Path) -> dict[str, Any]:
    """An OpenAPI document from YAML or JSON; ReportError naming the file when it is not one."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"no such OpenAPI document: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ReportError(f"{path}: cannot read it as YAML or JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict) or "openapi" not in data or not isinstance(data.get("paths", {}), dict):
        raise ReportError(f"{path}: not an OpenAPI document (no 'openapi' key, or 'paths' is not a mapping)")
    return data


def looks_like_openapi(path: Path) -> bool:
    """A file argument of `paycert diff` that should be compared as an OpenAPI document, not as a run."""
    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in (".yaml", ".yml", ".json"):
        return False
    if suffix != ".json":
        return True  # a report is never YAML
    try:  # a JSON file is a document only if it says so; anything else is left to the report loader
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(data, dict) and "openapi" in data


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    types = set(declared) if isinstance(declared, list) else ({declared} if isinstance(declared, str) else set())
    if schema.get("nullable") is True:  # OpenAPI 3.0
        types.add("null")
    return types


class _Walker:
    def __init__(self, a: dict[str, Any], b: dict[str, Any], a_name: str, b_name: str) -> None:
        self.a, self.b, self.a_name, self.b_name = a, b, a_name, b_name
        self.found: dict[tuple[str, str, str], ApiChange] = {}
        self.active: set[tuple[str, str, Context]] = set()

    # ---------------------------------------------------------------- bookkeeping

    def add(self, severity: Severity, kind: str, location: str, detail: str, op: str) -> None:
        key = (kind, location, detail)
        change = self.found.get(key)
        if change is None:
            self.found[key] = ApiChange(severity, kind, location, detail, [op] if op else [])
            return
        if _RANK[severity] < _RANK[change.severity]:
            change.severity = severity
        if op and op not in change.used_by:
            change.used_by.append(op)

    def resolve(self, side: str, node: Any, pointer: str) -> tuple[Any, str]:
        doc, name = (self.a, self.a_name) if side == "a" else (self.b, self.b_name)
        try:
            return resolve_in(doc, node, pointer, name)
        except OpenAPIError as exc:
            raise ReportError(str(exc)) from None

    # ---------------------------------------------------------------- operations

    @staticmethod
    def operations(doc: Mapping[str, Any]) -> dict[str, tuple[dict[str, Any], list[Any]]]:
        ops: dict[str, tuple[dict[str, Any], list[Any]]] = {}
        for path, item in (doc.get("paths") or {}).items():
            if not isinstance(item, dict):
                continue
            for method in HTTP_METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    ops[f"{method.upper()} {path}"] = (op, list(item.get("parameters") or []))
        return ops

    def run(self) -> list[ApiChange]:
        ops_a, ops_b = self.operations(self.a), self.operations(self.b)
        for name in ops_a.keys() - ops_b.keys():
            self.add("breaking", "operation removed", name, "the operation is gone", name)
        for name in ops_b.keys() - ops_a.keys():
            self.add("info", "operation added", name, "new operation", name)
        for name in sorted(ops_a.keys() & ops_b.keys()):
            self.operation(name, ops_a[name], ops_b[name])
        return sorted(self.found.values(), key=lambda c: (_RANK[c.severity], c.location, c.kind, c.detail))

    def parameters(self, side: str, op: dict[str, Any], shared: list[Any]) -> dict[str, dict[str, Any]]:
        params: dict[str, dict[str, Any]] = {}
        for raw in [*shared, *(op.get("parameters") or [])]:  # the operation's own override the path's
            param, _ = self.resolve(side, raw, "")
            if isinstance(param, dict) and "name" in param:
                params[f"{param.get('in', '?')} {param['name']}"] = param
        return params

    def operation(self, name: str, a: tuple[dict[str, Any], list[Any]], b: tuple[dict[str, Any], list[Any]]) -> None:
        (op_a, shared_a), (op_b, shared_b) = a, b
        params_a, params_b = self.parameters("a", op_a, shared_a), self.parameters("b", op_b, shared_b)
        for key in params_a.keys() - params_b.keys():
            self.add("warning", "parameter removed", f"{name} parameter {key}", "no longer accepted", name)
        for key in params_b.keys() - params_a.keys():
            required = bool(params_b[key].get("required"))
            self.add("breaking" if required else "info", "parameter added", f"{name} parameter {key}",
                     "new required parameter" if required else "new optional parameter", name)
        for key in sorted(params_a.keys() & params_b.keys()):
            pa, pb = params_a[key], params_b[key]
            if pb.get("required") and not pa.get("required"):
                self.add("breaking", "parameter required", f"{name} parameter {key}", "now required", name)
            if "schema" in pa and "schema" in pb:
                self.schema(pa["schema"], pb["schema"], f"{name} parameter {key}", "request", name, "")

        if "requestBody" in op_a or "requestBody" in op_b:
            body_a, _ = self.resolve("a", op_a.get("requestBody") or {}, "")
            body_b, _ = self.resolve("b", op_b.get("requestBody") or {}, "")
            where = f"{name} request body"
            if not body_b:
                self.add("warning", "request body removed", where, "no longer accepted", name)
            elif not body_a:
                required = bool(body_b.get("required"))
                self.add("breaking" if required else "info", "request body added", where,
                         "new required body" if required else "new optional body", name)
            else:
                if body_b.get("required") and not body_a.get("required"):
                    self.add("breaking", "request body required", where, "now required", name)
                self.content(body_a, body_b, where, "request", name)

        responses_a, responses_b = op_a.get("responses") or {}, op_b.get("responses") or {}
        for status in responses_a.keys() - responses_b.keys():
            self.add("breaking", "status code removed", f"{name} response {status}", "no longer documented", name)
        for status in responses_b.keys() - responses_a.keys():
            self.add("warning", "status code added", f"{name} response {status}", "new response", name)
        for status in sorted(responses_a.keys() & responses_b.keys(), key=str):
            ra, _ = self.resolve("a", responses_a[status], "")
            rb, _ = self.resolve("b", responses_b[status], "")
            if isinstance(ra, dict) and isinstance(rb, dict):
                self.content(ra, rb, f"{name} response {status}", "response", name)

    def content(self, a: dict[str, Any], b: dict[str, Any], where: str, context: Context, op: str) -> None:
        media_a, media_b = a.get("content") or {}, b.get("content") or {}
        for media in media_a.keys() - media_b.keys():
            self.add("breaking", "media type removed", f"{where} {media}", "no longer offered", op)
        for media in media_b.keys() - media_a.keys():
            self.add("info", "media type added", f"{where} {media}", "new media type", op)
        for media in sorted(media_a.keys() & media_b.keys()):
            sa, sb = (media_a[media] or {}).get("schema"), (media_b[media] or {}).get("schema")
            if sa is not None and sb is not None:
                self.schema(sa, sb, where, context, op, "")

    # ---------------------------------------------------------------- schemas

    def _component(self, node: Any) -> str | None:
        """The component a schema is, also when wrapped as `allOf: [$ref]` to add a description or default."""
        if not isinstance(node, dict):
            return None
        parts = node.get("allOf")
        if "$ref" not in node and isinstance(parts, list) and len(parts) == 1 \
                and not {"properties", "type", "enum", "items"} & node.keys():
            node = parts[0] if isinstance(parts[0], dict) else {}
        ref = node.get("$ref")
        return ref[len(_COMPONENT):] if isinstance(ref, str) and ref.startswith(_COMPONENT) else None

    def _merged(self, side: str, node: Any, depth: int = 0) -> dict[str, Any]:
        """The schema with its allOf members' properties and required lists merged in."""
        node, _ = self.resolve(side, node, "")
        if not isinstance(node, dict):
            return {}
        merged = {k: v for k, v in node.items() if k != "allOf"}
        properties = dict(node.get("properties") or {})
        required = list(node.get("required") or [])
        for part in node.get("allOf") or [] if depth < 8 else []:
            member = self._merged(side, part, depth + 1)
            for key, value in member.items():
                merged.setdefault(key, value)
            for prop, sub in (member.get("properties") or {}).items():
                properties.setdefault(prop, sub)
            required += [r for r in member.get("required") or [] if r not in required]
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def schema(self, a: Any, b: Any, where: str, context: Context, op: str, path: str,
               depth: int = 0) -> None:
        name_a, name_b = self._component(a), self._component(b)
        if name_a is not None and name_a == name_b:
            where, path = f"components.schemas.{name_a}", ""
        key = (where, path, context)
        if key in self.active or depth > _MAX_DEPTH:
            return
        self.active.add(key)
        try:
            self._compare(self._merged("a", a), self._merged("b", b), where, context, op, path, depth)
        finally:
            self.active.discard(key)

    def _compare(self, a: dict[str, Any], b: dict[str, Any], where: str, context: Context, op: str, path: str,
                 depth: int) -> None:
        at = f"{where}: {path}" if path else where

        def field_at(name: str) -> str:
            return f"{where}: {path}.{name}" if path else f"{where}: {name}"

        types_a, types_b = _types(a), _types(b)
        if types_a and types_b and types_a != types_b:
            widened = types_a < types_b
            narrowed = types_b < types_a
            harmless = (context == "request" and widened) or (context == "response" and narrowed)
            self.add("info" if harmless else "breaking", "type changed", at,
                     f"{'/'.join(sorted(types_a))} → {'/'.join(sorted(types_b))}", op)

        enum_a, enum_b = a.get("enum"), b.get("enum")
        if isinstance(enum_a, list) and isinstance(enum_b, list):
            removed = [v for v in enum_a if v not in enum_b]
            added = [v for v in enum_b if v not in enum_a]
            for value in removed:
                self.add("breaking" if context == "request" else "info", "enum value removed", at, repr(value), op)
            for value in added:
                self.add("warning" if context == "response" else "info", "enum value added", at, repr(value), op)
        elif isinstance(enum_b, list) and not isinstance(enum_a, list):
            self.add("breaking" if context == "request" else "info", "enum introduced", at,
                     ", ".join(map(repr, enum_b)), op)

        props_a, props_b = a.get("properties") or {}, b.get("properties") or {}
        required_a, required_b = set(a.get("required") or []), set(b.get("required") or [])
        for name in [p for p in props_a if p not in props_b]:
            self.add("breaking", "field removed", field_at(name), "the field is gone", op)
        for name in [p for p in props_b if p not in props_a]:
            newly = context == "request" and name in required_b
            self.add("breaking" if newly else "info", "field added", field_at(name),
                     "new required field" if newly else "new optional field", op)
        for name in [p for p in props_a if p in props_b]:
            if context == "request" and name in required_b and name not in required_a:
                self.add("breaking", "field required", field_at(name), "now required in requests", op)
            if context == "response" and name in required_a and name not in required_b:
                self.add("breaking", "field optional", field_at(name), "no longer always present in responses", op)
            sub = f"{path}.{name}" if path else name
            self.schema(props_a[name], props_b[name], where, context, op, sub, depth + 1)
        for name in sorted((required_b - required_a) - set(props_b)):  # required without a declared property
            if context == "request":
                self.add("breaking", "field required", field_at(name), "now required in requests", op)

        if "items" in a and "items" in b:
            self.schema(a["items"], b["items"], where, context, op, f"{path}[]" if path else "[]", depth + 1)
        for keyword in ("oneOf", "anyOf"):
            va, vb = a.get(keyword) or [], b.get(keyword) or []
            if len(va) != len(vb):
                self.add("warning", f"{keyword} changed", at, f"{len(va)} → {len(vb)} alternatives", op)
            for index, (sa, sb) in enumerate(zip(va, vb, strict=False)):
                self.schema(sa, sb, where, context, op, f"{path}<{keyword}[{index}]>", depth + 1)


def diff_documents(a: dict[str, Any], b: dict[str, Any], a_name: str = "A", b_name: str = "B") -> OpenApiDiff:
    """Every change from document `a` to document `b`, breaking first."""
    changes = _Walker(a, b, a_name, b_name).run()

    def version(doc: dict[str, Any]) -> str | None:
        info = doc.get("info")
        return str(info["version"]) if isinstance(info, dict) and "version" in info else None

    return OpenApiDiff(a_name, b_name, version(a), version(b), tuple(changes))


def diff_files(a: Path, b: Path) -> OpenApiDiff:
    return diff_documents(load_document(a), load_document(b), str(a), str(b))


def iter_lines(diff: OpenApiDiff) -> Iterator[str]:
    """Plain lines for logs: one per change, severity first."""
    for c in diff.changes:
        used = f" (used by {', '.join(c.used_by)})" if c.location.startswith("components.") else ""
        yield f"{c.severity.upper():8} {c.kind}: {c.location}: {c.detail}{used}"
