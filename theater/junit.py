"""JUnit XML reports (``replay --all --junit FILE``, ``verify --all --junit FILE``).

The shape GitHub (test-reporter actions), GitLab (``artifacts:reports:junit``) and
Jenkins (the JUnit plugin) read: ``<testsuites>`` holding one ``<testsuite>`` with
``tests``/``failures``/``errors``/``skipped``/``time`` counts, a ``<testcase>`` per
chain (``classname`` the actor, ``name`` the chain id), a ``<failure>`` (diverged, or
failed verification) or ``<error>`` (could not run) whose text is the report.
Everything in it came from actors or databases: control characters are escaped
(theater/text.py), which also keeps the file well-formed XML 1.0.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .text import inert, inert_line


@dataclass(frozen=True, kw_only=True)
class Case:
    """One testcase. ``failure`` / ``error``: ``(message, text)``, or None."""

    name: str
    classname: str
    seconds: float = 0.0
    failure: tuple[str, str] | None = None
    error: tuple[str, str] | None = None
    skipped: str | None = None


def junit_xml(suite: str, cases: Sequence[Case], *, seconds: float = 0.0) -> bytes:
    """The report, as UTF-8 bytes with an XML declaration."""
    failures = sum(1 for c in cases if c.failure is not None)
    errors = sum(1 for c in cases if c.failure is None and c.error is not None)
    skipped = sum(1 for c in cases if c.skipped is not None)
    counts = {"tests": str(len(cases)), "failures": str(failures), "errors": str(errors),
              "skipped": str(skipped), "time": f"{seconds:.3f}"}
    root = ET.Element("testsuites", {"name": inert_line(suite), **counts})
    ts = ET.SubElement(root, "testsuite", {
        "name": inert_line(suite), **counts,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "hostname": socket.gethostname()})
    for c in cases:
        tc = ET.SubElement(ts, "testcase", {"classname": inert_line(c.classname), "name": inert_line(c.name),
                                            "time": f"{c.seconds:.3f}"})
        if c.failure is not None:
            el = ET.SubElement(tc, "failure", {"message": inert_line(c.failure[0]), "type": "divergence"})
            el.text = inert(c.failure[1])
        elif c.error is not None:
            el = ET.SubElement(tc, "error", {"message": inert_line(c.error[0]), "type": "error"})
            el.text = inert(c.error[1])
        elif c.skipped is not None:
            ET.SubElement(tc, "skipped", {"message": inert_line(c.skipped)})
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def write_junit(path: Path, suite: str, cases: Sequence[Case], *, seconds: float = 0.0) -> None:
    """Write the report to ``path`` whole or not at all (a temporary file renamed)."""
    data = junit_xml(suite, cases, seconds=seconds)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    except OSError as e:
        raise UsageError(f"cannot write the JUnit report {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o644)  # a report to upload, not a secret (mkstemp makes it 0600)
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UsageError(f"cannot write the JUnit report {path}: {e.strerror}") from None
