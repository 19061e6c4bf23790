"""Fail early, with a plain message, when the Python that builds the venv is older than 3.11."""

import sys

if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before the venv, on any python3
    sys.exit(f"campus-hub needs Python 3.11 or newer; {sys.executable} is {sys.version.split()[0]}")
