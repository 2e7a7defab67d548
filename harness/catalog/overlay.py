"""The calibration overlay: observed sandbox behaviour replacing adopted assumptions, applied as the catalog loads.

Why in the loader: the catalog is the one source of truth the suites, the simulator and the report all read, so
an observed value applied here changes all three at once on the next run — nothing else needs to know.

The overlay is ``paycert-calibration.yaml`` in the working directory (beside ``.env``): data under the user's
control, written by ``paycert calibrate RUN`` for review and meant to be committed. Each entry names a catalog
entry (its id; a transition by its requirement id ``BC-TX-…``; an operation as ``operation:<name>``), a field
(dotted, e.g. ``expect.state``), the adopted value it replaces, the observed value, and where it was seen (run id,
target, base URL, date). Applying it sets the field, marks the entry ``provenance: observed`` and says in its
``source`` which run saw it.

A ``documented`` entry is never changed: a sandbox that differs from the documents is broken, and the remedy is a
waiver with owner and expiry, not a calibration. Such an entry, an unknown entry or field, a value of another type
than the catalog's, or an ``adopted`` value that no longer matches the catalog, is a CatalogError naming the
overlay file and entry.

`Mismatch` lives here too, in the facts layer, because the suites raise it: it names a catalog value the same
way an overlay entry does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from harness import yaml_data
from harness.catalog.common import CatalogError

OVERLAY_FILE: Final = "paycert-calibration.yaml"
FORMAT: Final = "paycert-calibration/1"
CALIBRATABLE: Final = frozenset({"adopted", "observed"})
_REQUIRED: Final = ("api", "entry", "field", "adopted", "observed", "run", "target", "date")


def overlay_path() -> Path:
    return Path.cwd() / OVERLAY_FILE


def load_overlay(path: Path | None = None) -> list[dict[str, Any]]:
    """The overlay's entries ([] when there is no file); CatalogError names the file and the bad entry."""
    path = path or overlay_path()
    if not path.is_file():
        return []
    try:
        data = yaml_data.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml_data.YAMLError) as exc:
        raise CatalogError(f"{path}: cannot read the calibration overlay: {type(exc).__name__}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("entries"), list):
        raise CatalogError(f"{path}: not a {FORMAT} document (format: {FORMAT}, entries: [...])")
    entries: list[dict[str, Any]] = []
    for number, entry in enumerate(data["entries"], start=1):
        missing = [k for k in _REQUIRED if not isinstance(entry, dict) or k not in entry]
        if missing:
            raise CatalogError(f"{path}: entry {number}: missing {', '.join(missing)}")
        if entry.get("provenance", "observed") != "observed":
            raise CatalogError(f"{path}: entry {number}: provenance must be observed")
        entries.append(entry)
    return entries


def entry_ids(item: dict[str, Any]) -> set[str]:
    """The ids a raw catalog item answers to (see the module docstring)."""
    ids: set[str] = set()
    if isinstance(item.get("id"), str):
        ids.add(item["id"])
    if {"from", "operation", "amount"} <= item.keys():
        ids.add(f"BC-TX-{item['from']}-{item['operation']}-{item['amount']}".upper().replace("_", "-"))
    if isinstance(item.get("name"), str) and "method" in item and "path" in item:
        ids.add(f"operation:{item['name']}")
    return ids


def _items(data: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if entry_ids(node):
                found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def find_entry(data: dict[str, Any], entry_id: str) -> dict[str, Any] | None:
    return next((item for item in _items(data) if entry_id in entry_ids(item)), None)


def get_field(item: dict[str, Any], field: str) -> Any:
    node: Any = item
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(field)
        node = node[part]
    return node


def _set_field(item: dict[str, Any], field: str, value: Any) -> None:
    *parents, last = field.split(".")
    node = item
    for part in parents:
        node = node[part]
    node[last] = value


def apply_overlay(catalog_name: str, data: dict[str, Any], path: Path | None = None) -> dict[str, Any]:
    """`data` (one catalog file, raw) with the overlay's entries for its API applied in place."""
    path = path or overlay_path()
    api = catalog_name.removesuffix(".yaml")
    for number, entry in enumerate(load_overlay(path), start=1):
        if entry["api"] != api:
            continue
        where = f"{path}: entry {number} ({entry['entry']} {entry['field']})"
        item = find_entry(data, str(entry["entry"]))
        if item is None:
            raise CatalogError(f"{where}: no such catalog entry")
        provenance = str(item.get("provenance", "adopted"))  # transitions default to adopted (the model's)
        if provenance not in CALIBRATABLE:
            raise CatalogError(f"{where}: the catalog entry is {provenance}; a documented fact cannot be calibrated "
                               "away, only waived (owner, expiry)")
        try:
            current = get_field(item, str(entry["field"]))
        except KeyError:
            raise CatalogError(f"{where}: the catalog entry has no field {entry['field']}") from None
        observed = entry["observed"]
        if type(observed) is not type(current):
            raise CatalogError(f"{where}: observed value {observed!r} is not of the catalog's type "
                               f"({type(current).__name__})")
        if provenance == "adopted" and current != entry["adopted"]:
            raise CatalogError(f"{where}: the catalog now says {current!r}, not the adopted {entry['adopted']!r} "
                               "this entry replaces; review it")
        _set_field(item, str(entry["field"]), observed)
        item["provenance"] = "observed"
        item["source"] = (f"observed in run {entry['run']} on {entry['target']} ({entry['date']}): "
                          f"{entry['field']} {observed!r}, adopted was {entry['adopted']!r}")
    return data


class Mismatch(AssertionError):
    """An answer that differs from a catalog value; `entry` and `field` address the value (overlay syntax)."""

    def __init__(self, api: str, entry: str, field: str, expected: Any, observed: Any, message: str) -> None:
        super().__init__(message)
        self.api, self.entry, self.field = api, entry, field
        self.expected, self.observed = expected, observed

    def to_json(self) -> dict[str, Any]:
        return {"api": self.api, "entry": self.entry, "field": self.field, "expected": self.expected,
                "observed": self.observed}
