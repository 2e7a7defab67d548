"""The one error type of the report layer.

Every problem a user can fix (a malformed waiver file, a results file that is not JSON, a package that is not
a paycert package, an output directory that cannot be written) is a ReportError whose str() is the one line
the CLI prints before exiting with code 2.
"""

from __future__ import annotations


class ReportError(ValueError):
    """Bad input to the report layer; str() names the file, the entry and what is wrong."""
