"""The one error type of the report layer.

Every problem a user can fix (a malformed waiver file, a results file that is not JSON, a package that is not
a paycert package, an output directory that cannot be written) is a ReportError whose str() is the one line
the CLI prints before exiting with code 2.
"""

from __future__ import annotations

from harness.errors import ReportError

__all__ = ["ReportError"]
