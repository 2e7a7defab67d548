"""The two OpenAPI 3.1 documents (fixtures/<api>/openapi.yaml) and validation against their schemas.

Why this module: the documents are the wire contract the simulator answers by, the clients are checked
against and schemathesis fuzzes with. Everything that needs "is this body what the contract says?" asks here,
so there is one loader, one dialect (OpenAPI 3.1 base dialect, i.e. JSON Schema 2020-12 with formats asserted)
and one way `$ref`s resolve: against the whole document, so a schema deep inside a response resolves its
`#/components/schemas/...` references exactly as schemathesis sees them.

    from harness import openapi
    target = openapi.SchemaTarget(operation="authorizePayment", part="response", status="201")
    openapi.validate("bettercharge", target, body)          # raises SchemaMismatch naming each problem
    openapi.invalid_fields("bettercharge", request_target, body)  # ["amount", "customer.email"]

Also here: the seed examples' index (fixtures/<api>/examples/index.yaml), read by `examples(api)`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any, Final, Literal, cast

from jsonschema import FormatChecker, validators
from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator
from openapi_schema_validator import OAS31Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from harness import yaml_data
from harness.cards import luhn_valid
from harness.errors import OpenAPIError, SchemaMismatch
from harness.paths import APIS, fixtures_dir

__all__ = [
    "API_NAMES",
    "HTTP_METHODS",
    "Example",
    "OpenAPIError",
    "SchemaMismatch",
    "SchemaTarget",
    "deref",
    "document",
    "document_path",
    "examples",
    "examples_dir",
    "form_fields",
    "header_problems",
    "invalid_fields",
    "merged_schema",
    "node_at",
    "problems",
    "schema_parts",
    "schema_pointer",
    "sha256",
    "validate",
    "validate_headers",
]

#: The APIs with an OpenAPI document: all of them (harness.paths.APIS).
API_NAMES: Final = APIS
HTTP_METHODS: tuple[str, ...] = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
Part = Literal["schema", "request", "response", "headers"]


@dataclass(frozen=True)
class SchemaTarget:
    """Which schema of a document an instance must match.

    Exactly one anchor: `component` (a schema under components/schemas), `response` (a response under
    components/responses), `operation` (an operationId) or `webhook` (a name under webhooks). `part` says
    which schema of the anchor: the request body, a response body (needs `status` for operations), or the
    response headers. `media_type` defaults to the only (or first) one declared.
    """

    component: str | None = None
    response: str | None = None
    operation: str | None = None
    webhook: str | None = None
    part: Part = "schema"
    status: str | None = None
    media_type: str | None = None

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SchemaTarget:
        """Build from an index entry's `target`; unknown keys or a wrong shape raise OpenAPIError."""
        allowed = {"component", "response", "operation", "webhook", "part", "status", "media_type"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise OpenAPIError(f"target has unknown keys {unknown}; allowed: {sorted(allowed)}")
        values = {key: (str(value) if value is not None else None) for key, value in data.items()}
        part = values.get("part") or ("schema" if values.get("component") else "response")
        if part not in ("schema", "request", "response", "headers"):
            raise OpenAPIError(f"target part {part!r} is not one of schema, request, response, headers")
        target = cls(
            component=values.get("component"),
            response=values.get("response"),
            operation=values.get("operation"),
            webhook=values.get("webhook"),
            part=cast(Part, part),
            status=values.get("status"),
            media_type=values.get("media_type"),
        )
        target.check_shape()
        return target

    def check_shape(self) -> None:
        anchors = [name for name in ("component", "response", "operation", "webhook") if getattr(self, name)]
        if len(anchors) != 1:
            raise OpenAPIError(f"{self.describe()}: needs exactly one of component, response, operation, webhook")
        if self.component and self.part != "schema":
            raise OpenAPIError(f"{self.describe()}: a component schema has no part {self.part!r}")
        if self.response and self.part not in ("response", "headers"):
            raise OpenAPIError(f"{self.describe()}: a component response has a body or headers, not {self.part!r}")
        if (self.operation or self.webhook) and self.part == "schema":
            raise OpenAPIError(f"{self.describe()}: say part: request, response or headers")
        if self.operation and self.part in ("response", "headers") and not self.status:
            raise OpenAPIError(f"{self.describe()}: a response of an operation needs a status")

    def describe(self) -> str:
        anchor = next(
            (
                f"{name} {getattr(self, name)}"
                for name in ("component", "response", "operation", "webhook")
                if getattr(self, name)
            ),
            "no anchor",
        )
        status = f" {self.status}" if self.status else ""
        return f"{anchor} {self.part}{status}"


def document_path(api: str) -> Path:
    """fixtures/<api>/openapi.yaml; an unknown API name raises OpenAPIError listing the known ones."""
    if api not in API_NAMES:
        raise OpenAPIError(f"unknown API {api!r}; known: {', '.join(API_NAMES)}")
    return fixtures_dir() / api / "openapi.yaml"


@cache
def document(api: str) -> dict[str, Any]:
    """The parsed document, cached: callers share it and must not change it."""
    path = document_path(api)
    try:
        data = yaml_data.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml_data.YAMLError) as exc:
        raise OpenAPIError(f"{path}: cannot read the OpenAPI document: {exc}") from exc
    if not isinstance(data, dict) or "openapi" not in data:
        raise OpenAPIError(f"{path}: not an OpenAPI document")
    return data


def sha256(api: str) -> str:
    """Hex SHA-256 of the document file's bytes, so a report can name the exact contract it checked."""
    return hashlib.sha256(document_path(api).read_bytes()).hexdigest()


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def node_at(api: str, pointer: str) -> Any:
    """The node at a JSON pointer inside the document ("/components/schemas/Amount"; "#/..." refs too).

    OpenAPIError when the pointer leads nowhere.
    """
    return node_in(document(api), pointer, api)


def node_in(doc: Mapping[str, Any], pointer: str, name: str) -> Any:
    """node_at for any document (`name` labels errors: an API name or a file), e.g. two versions' documents."""
    node: Any = doc
    path = pointer.removeprefix("#").removeprefix("/")
    for raw in path.split("/") if path else ():
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise OpenAPIError(f"{name}: pointer {pointer!r} points nowhere")
    return node


def _resolve(api: str, node: Any, pointer: str) -> tuple[Any, str]:
    """Follow local `$ref`s of OpenAPI objects (responses, request bodies, headers) to their target."""
    return resolve_in(document(api), node, pointer, api)


def resolve_in(doc: Mapping[str, Any], node: Any, pointer: str, name: str) -> tuple[Any, str]:
    """_resolve for any document: (target, its pointer). Shared with harness.report.openapi_diff."""
    seen: set[str] = set()
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        ref = node["$ref"]
        if not ref.startswith("#/") or ref in seen:
            raise OpenAPIError(f"{name}: cannot follow $ref {ref!r} at {pointer}")
        seen.add(ref)
        try:
            node = node_in(doc, ref, name)
        except OpenAPIError:
            raise OpenAPIError(f"{name}: $ref {ref!r} points nowhere") from None
        pointer = ref[1:]
    return node, pointer


def deref(api: str, node: Any) -> Any:
    """`node` with its local `$ref` chain followed to the target (a node without `$ref` is itself)."""
    return _resolve(api, node, "")[0]


def schema_parts(api: str, schema: Any) -> list[Mapping[str, Any]]:
    """A schema and every schema it pulls in through `$ref` and `allOf`, in that order: the constraints that
    all apply to one instance. Cycles are followed once."""
    parts: list[Mapping[str, Any]] = []

    def walk(node: Any, seen: frozenset[str]) -> None:
        if not isinstance(node, Mapping):
            return
        parts.append(node)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref not in seen:
            walk(node_at(api, ref), seen | {ref})
        for part in node.get("allOf") or []:
            walk(part, seen)

    walk(schema, frozenset())
    return parts


def merged_schema(api: str, schema: Any) -> dict[str, Any]:
    """One schema with the keywords of its `$ref` target and `allOf` members merged in (its own win, then the
    reference's, then allOf's in order); property schemas are left as they are. Enough for reading what a
    field declares, not a validator: `validate` is that."""
    merged: dict[str, Any] = {}
    for part in schema_parts(api, schema):
        for key, value in part.items():
            if key not in ("$ref", "allOf"):
                merged.setdefault(key, value)
    return merged


def _child(api: str, node: Any, pointer: str, key: str, what: str) -> tuple[Any, str]:
    node, pointer = _resolve(api, node, pointer)
    if not isinstance(node, dict) or key not in node:
        known = sorted(node) if isinstance(node, dict) else []
        raise OpenAPIError(f"{api}: no {what} {key!r} (known: {', '.join(map(str, known)) or 'none'})")
    return _resolve(api, node[key], f"{pointer}/{_escape(key)}")


def _operation(api: str, operation_id: str) -> tuple[dict[str, Any], str]:
    for path, item in (document(api).get("paths") or {}).items():
        for method in HTTP_METHODS:
            op = item.get(method)
            if isinstance(op, dict) and op.get("operationId") == operation_id:
                return op, f"/paths/{_escape(path)}/{method}"
    raise OpenAPIError(f"{api}: no operation with operationId {operation_id!r}")


def _response_status(api: str, responses: Mapping[str, Any], status: str, where: str) -> str:
    """The responses key that covers `status`: exact, then its range (4XX), then default."""
    for key in (status, f"{status[:1]}XX", "default"):
        if key in responses:
            return key
    raise OpenAPIError(f"{api}: {where} declares no response for status {status} (has {', '.join(responses)})")


def _media(api: str, node: Any, pointer: str, media_type: str | None, where: str) -> tuple[Any, str]:
    content, pointer = _child(api, node, pointer, "content", f"content in {where}")
    if not content:
        raise OpenAPIError(f"{api}: {where} has no content")
    chosen = media_type or next(iter(content))
    media, pointer = _child(api, content, pointer, chosen, f"media type in {where}")
    return _child(api, media, pointer, "schema", f"schema in {where}")


def _anchor(api: str, target: SchemaTarget) -> tuple[Any, str]:
    """The OpenAPI object a target starts from: an operation, a webhook operation or a component response."""
    if target.operation:
        return _operation(api, target.operation)
    if target.webhook:
        webhooks = document(api).get("webhooks") or {}
        item, pointer = _child(api, webhooks, "/webhooks", target.webhook, "webhook")
        methods = [method for method in HTTP_METHODS if method in item]
        if len(methods) != 1:
            raise OpenAPIError(f"{api}: webhook {target.webhook!r} should have exactly one operation")
        return item[methods[0]], f"{pointer}/{methods[0]}"
    responses = (document(api).get("components") or {}).get("responses") or {}
    return _child(api, responses, "/components/responses", str(target.response), "component response")


def schema_pointer(api: str, target: SchemaTarget) -> str:
    """JSON pointer (inside the document) of the body schema a target names; OpenAPIError if there is none."""
    target.check_shape()
    where = target.describe()
    if target.component:
        schemas = (document(api).get("components") or {}).get("schemas") or {}
        return _child(api, schemas, "/components/schemas", target.component, "component schema")[1]
    if target.part == "headers":
        raise OpenAPIError(f"{api}: {where}: headers have one schema per header; use validate_headers")
    node, pointer = _anchor(api, target)
    if target.part == "request":
        body, pointer = _child(api, node, pointer, "requestBody", f"request body of {where}")
        return _media(api, body, pointer, target.media_type, where)[1]
    if not target.response:
        responses, pointer = _child(api, node, pointer, "responses", f"responses of {where}")
        key = _response_status(api, responses, target.status or "", where)
        node, pointer = _child(api, responses, pointer, key, "response")
    return _media(api, node, pointer, target.media_type, where)[1]


def _exact_multiple_of(validator: Validator, divisor: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    """multipleOf on the numbers' decimal text: JSON numbers are decimals, so 0.07 is a multiple of 0.01.

    jsonschema divides binary floats and rejects 0.07 or 1234567.89 for `multipleOf: 0.01`; schemathesis'
    validator and the simulators (Decimal(str(x))) accept them, so this module must too.
    """
    if not validator.is_type(instance, "number"):
        return
    quotient = Fraction(Decimal(str(instance))) / Fraction(Decimal(str(divisor)))
    if quotient.denominator != 1:
        yield ValidationError(f"{instance!r} is not a multiple of {divisor}")


def _format_checker() -> FormatChecker:
    """The OpenAPI 3.1 formats plus `pan` (a card number that passes Luhn), which the documents use."""
    checker = FormatChecker(formats=())
    checker.checkers = dict(OAS31Validator.FORMAT_CHECKER.checkers)
    checker.checks("pan")(lambda instance: not isinstance(instance, str) or luhn_valid(instance))
    return checker


_FORMAT_CHECKER = _format_checker()
_VALIDATOR_CLASS = validators.extend(OAS31Validator, {"multipleOf": _exact_multiple_of})


@cache
def _registry(api: str) -> tuple[str, Registry]:
    uri = document_path(api).resolve().as_uri()
    return uri, Registry().with_resource(uri, DRAFT202012.create_resource(document(api)))


@cache
def _validator_for(api: str, pointer: str) -> Validator:
    uri, registry = _registry(api)
    validator: Validator = _VALIDATOR_CLASS(
        {"$ref": f"{uri}#{pointer}"},
        registry=registry,
        format_checker=_FORMAT_CHECKER,
    )
    return validator


def _where(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<root>"


def _errors(api: str, target: SchemaTarget, instance: Any) -> list[ValidationError]:
    validator = _validator_for(api, schema_pointer(api, target))
    return sorted(validator.iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))


def problems(api: str, target: SchemaTarget, instance: Any) -> list[str]:
    """Every mismatch as "<dotted path>: <message>"; empty when the instance matches."""
    return [f"{_where(error)}: {error.message}" for error in _errors(api, target, instance)]


def validate(api: str, target: SchemaTarget, instance: Any) -> None:
    """Raise SchemaMismatch (listing every problem) unless the instance matches the target's schema."""
    found = problems(api, target, instance)
    if found:
        raise SchemaMismatch(f"{api} {target.describe()}", found)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _fields(error: ValidationError) -> set[str]:
    """Field paths a validation error is about; the names a BAD_REQUEST message lists."""
    prefix = ".".join(str(part) for part in error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        return {_join(prefix, name) for name in error.validator_value if name not in instance}
    if error.validator == "dependentRequired" and isinstance(instance, dict):
        return {
            _join(prefix, name) for names in error.validator_value.values() for name in names if name not in instance
        }
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        declared = set(error.schema.get("properties") or {})
        return {_join(prefix, name) for name in instance if name not in declared}
    if error.validator in ("oneOf", "anyOf") and isinstance(error.validator_value, list):
        branches = error.validator_value
        if all(isinstance(b, dict) and set(b) == {"required"} for b in branches):
            return {_join(prefix, name) for branch in branches for name in branch["required"]}
    if error.context:
        nested: set[str] = set()
        for sub in error.context:
            nested |= _fields(sub)
        if nested:
            return nested
    return {prefix or "<root>"}


def invalid_fields(api: str, target: SchemaTarget, instance: Any) -> list[str]:
    """Sorted, dotted paths of the missing or invalid fields (empty when the instance matches)."""
    names: set[str] = set()
    for error in _errors(api, target, instance):
        names |= _fields(error)
    return sorted(names)


def _types(api: str, schema: Any, pointer: str, depth: int = 0) -> set[str]:
    """The JSON types a (sub)schema declares, looking through $ref and allOf."""
    node, pointer = _resolve(api, schema, pointer)
    if not isinstance(node, dict) or depth > 8:
        return set()
    declared = node.get("type")
    found = set(declared) if isinstance(declared, list) else ({declared} if declared else set())
    for index, part in enumerate(node.get("allOf") or []):
        found |= _types(api, part, f"{pointer}/allOf/{index}", depth + 1)
    return found


def _properties(api: str, schema: Any, pointer: str, depth: int = 0) -> dict[str, tuple[Any, str]]:
    """Property name -> (schema, pointer), from the schema and the members of its allOf."""
    node, pointer = _resolve(api, schema, pointer)
    if not isinstance(node, dict) or depth > 8:
        return {}
    found: dict[str, tuple[Any, str]] = {}
    for index, part in enumerate(node.get("allOf") or []):
        found |= _properties(api, part, f"{pointer}/allOf/{index}", depth + 1)
    for name, sub in (node.get("properties") or {}).items():
        found.setdefault(name, (sub, f"{pointer}/properties/{_escape(name)}"))
    return found


def form_fields(api: str, target: SchemaTarget, fields: Mapping[str, str]) -> dict[str, Any]:
    """Form-encoded values (all text on the wire) as the types the target's schema declares.

    Why: a postback's `status_code=3&amount=15.90` must be checked against a schema that says integer and
    number; text that is not a valid number stays text, so the validation then reports it.
    """
    pointer = schema_pointer(api, target)
    properties = _properties(api, node_at(api, pointer), pointer)
    typed: dict[str, Any] = {}
    for name, value in fields.items():
        sub = properties.get(name)
        typed[name] = _coerce(value, {"type": sorted(_types(api, *sub))}) if sub else value
    return typed


_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_NUMBER_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    """Text from a header or a form as the type its schema declares; text that is no such value stays text."""
    types = schema.get("type")
    kinds = set(types) if isinstance(types, list) else {types}
    if "integer" in kinds and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    if "number" in kinds and _NUMBER_TEXT.fullmatch(value):
        number = float(value)
        return int(number) if number.is_integer() and _INTEGER_TEXT.fullmatch(value) else number
    if "boolean" in kinds and value in ("true", "false"):
        return value == "true"
    return value


def header_problems(
    api: str, target: SchemaTarget, headers: Mapping[str, str], allow_missing: Iterable[str] = ()
) -> list[str]:
    """Problems of response headers against the target response's header definitions (names case-insensitive).

    `allow_missing` names required headers that may be absent (e.g. an adopted addition the seed's example
    predates); headers the response does not define are ignored, as HTTP allows.
    """
    if target.part != "headers":
        raise OpenAPIError(f"{target.describe()}: header checks need part: headers")
    node, pointer = _anchor(api, target)
    where = target.describe()
    if not target.response:
        responses, pointer = _child(api, node, pointer, "responses", f"responses of {where}")
        key = _response_status(api, responses, target.status or "", where)
        node, pointer = _child(api, responses, pointer, key, "response")
    definitions = node.get("headers") or {}
    received = {name.lower(): value for name, value in headers.items()}
    excused = {name.lower() for name in allow_missing}
    found: list[str] = []
    for name, raw in definitions.items():
        header, header_pointer = _resolve(api, raw, f"{pointer}/headers/{_escape(name)}")
        value = received.get(name.lower())
        if value is None:
            if header.get("required") and name.lower() not in excused:
                found.append(f"{name}: required header is missing")
            continue
        schema = header.get("schema") or {}
        validator = _validator_for(api, f"{header_pointer}/schema")
        found.extend(f"{name}: {error.message}" for error in validator.iter_errors(_coerce(value, schema)))
    return found


def validate_headers(
    api: str, target: SchemaTarget, headers: Mapping[str, str], allow_missing: Iterable[str] = ()
) -> None:
    """Raise SchemaMismatch unless the headers satisfy the target response's header definitions."""
    found = header_problems(api, target, headers, allow_missing)
    if found:
        raise SchemaMismatch(f"{api} {target.describe()}", found)


@dataclass(frozen=True)
class Example:
    """One stored seed example and the schema it must match (an entry of examples/index.yaml)."""

    api: str
    file: str
    path: Path
    target: SchemaTarget
    source: str
    provenance: str
    notes: str = ""
    allow_missing_headers: tuple[str, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        return f"{self.api}:{Path(self.file).stem}"

    def load(self) -> Any:
        """The example's JSON content; OpenAPIError naming the file if it is not valid JSON."""
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise OpenAPIError(f"{self.path}: cannot read example: {exc}") from exc


def examples_dir(api: str) -> Path:
    """fixtures/<api>/examples, where the seed examples and their index live."""
    return document_path(api).parent / "examples"


@cache
def examples(api: str) -> tuple[Example, ...]:
    """The entries of fixtures/<api>/examples/index.yaml, each checked for shape (not yet for content)."""
    index = examples_dir(api) / "index.yaml"
    try:
        data = yaml_data.safe_load(index.read_text(encoding="utf-8"))
    except (OSError, yaml_data.YAMLError) as exc:
        raise OpenAPIError(f"{index}: {exc}") from exc
    entries = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise OpenAPIError(f"{index}: expected a mapping with an 'examples' list")
    found: list[Example] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not {"file", "target", "source", "provenance"} <= set(entry):
            raise OpenAPIError(f"{index}: entry {number} needs file, target, source and provenance")
        try:
            target = SchemaTarget.from_mapping(entry["target"])
        except OpenAPIError as exc:
            raise OpenAPIError(f"{index}: entry {number} ({entry['file']}): {exc}") from exc
        found.append(
            Example(
                api=api,
                file=str(entry["file"]),
                path=examples_dir(api) / str(entry["file"]),
                target=target,
                source=str(entry["source"]),
                provenance=str(entry["provenance"]),
                notes=str(entry.get("notes") or ""),
                allow_missing_headers=tuple(entry.get("allow_missing_headers") or ()),
            )
        )
    return tuple(found)
