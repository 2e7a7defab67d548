"""junit.xml as CI dashboards read it: the plugin's own bookkeeping properties left out.

The paycert plugin ships what it needs from the xdist workers to the controller as pytest ``user_properties``
(harness/plugin.py, ``TRANSPORT_PROPERTIES``), and pytest's JUnit writer puts every one of them on its test
case: a list of requirement ids, a weight flag, the requests spent, case counts. results.json and the report hold
all of that; in junit.xml it was 0.28 of 0.93 MB. A test case keeps the properties README promises
(``requirement``, ``provenance``, ``weight``, one triple per requirement, harness/report/labels.py) and any a
test records itself (``record_property``).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.plugin import TRANSPORT_PROPERTIES

__all__ = ["drop_transport_properties"]


def drop_transport_properties(path: Path) -> int:
    """Rewrite `path` without the plugin's transport properties; returns how many were removed (0, and the file
    untouched, when there is no such file or it is not XML: the report names a broken junit.xml elsewhere)."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError):
        return 0
    removed = 0
    for properties in tree.getroot().iter("properties"):
        for prop in list(properties):
            if prop.tag == "property" and prop.get("name") in TRANSPORT_PROPERTIES:
                properties.remove(prop)
                removed += 1
    for testcase in tree.getroot().iter("testcase"):
        emptied = testcase.find("properties")
        if emptied is not None and len(emptied) == 0:
            testcase.remove(emptied)
    if removed:
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        tree.write(tmp, encoding="utf-8", xml_declaration=True)
        tmp.replace(path)
    return removed
