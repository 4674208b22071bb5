"""The results of a run as JUnit XML (``--junit OUT.xml``), the format CI servers read: one
``testsuite`` per test file, one ``testcase`` per case, a ``failure`` with the step, what was
expected and what happened."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from engine.runtime.configtests.running import CaseResult


def junit_xml(results: list[CaseResult], name: str) -> str:
    """The XML text of ``results``; ``name`` names the whole run (the config)."""
    root = ET.Element(
        "testsuites", name=name, tests=str(len(results)), failures=str(sum(not r.passed for r in results))
    )
    root.set("time", f"{sum(r.seconds for r in results):.3f}")
    by_file: dict[str, list[CaseResult]] = {}
    for result in results:
        by_file.setdefault(result.case.file, []).append(result)
    for file, cases in by_file.items():
        suite = ET.SubElement(
            root,
            "testsuite",
            name=Path(file).stem,
            file=file,
            tests=str(len(cases)),
            failures=str(sum(not r.passed for r in cases)),
            errors="0",
            time=f"{sum(r.seconds for r in cases):.3f}",
        )
        for result in cases:
            case = ET.SubElement(
                suite, "testcase", classname=Path(file).stem, name=result.case.name, time=f"{result.seconds:.3f}"
            )
            case.set("file", file)
            if not result.passed:
                failure = ET.SubElement(case, "failure", message=result.where)
                failure.text = f"{result.where}\n{result.expected}\n{result.actual}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
