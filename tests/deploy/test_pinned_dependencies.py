"""constraints.txt pins every dependency exactly, and every install path uses it.

pyproject.toml keeps version ranges (what a library user may install); the Makefile (and so
CI) and the Dockerfile install through constraints.txt, so what runs is what was tested.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "constraints.txt"


def _pins() -> dict[str, tuple[Version, Requirement]]:
    pins: dict[str, tuple[Version, Requirement]] = {}
    for number, raw in enumerate(CONSTRAINTS.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", (
            f"constraints.txt:{number}: {line!r} is not an exact pin (name==version)"
        )
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"constraints.txt:{number}: {name} pinned twice"
        pins[name] = (Version(specifiers[0].version), requirement)
    return pins


def _declared_requirements() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = list(pyproject["project"]["dependencies"])
    for extra in pyproject["project"]["optional-dependencies"].values():
        declared.extend(extra)
    declared.extend(pyproject["build-system"]["requires"])
    return [Requirement(text) for text in declared]


def test_every_declared_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for requirement in _declared_requirements():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} (pyproject.toml) has no pin in constraints.txt"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"constraints.txt pins {name}=={version}, outside pyproject's {requirement}"
        )


def test_the_installed_environment_matches_the_pins() -> None:
    """The venv `make` built (and the tests run in) holds exactly the pinned versions."""
    environment = default_environment()
    drift = []
    for name, (version, requirement) in _pins().items():
        applies = requirement.marker is None or requirement.marker.evaluate(
            {**environment, "extra": ""}
        )
        if not applies:
            continue
        try:
            installed = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            continue  # e.g. the spark extra where it is not installed
        if installed != version:
            drift.append(f"{name}: installed {installed}, pinned {version}")
    assert not drift, "environment differs from constraints.txt: " + "; ".join(drift)


def test_makefile_installs_through_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^export PIP_CONSTRAINT := \$\(CURDIR\)/constraints\.txt$", makefile, re.M)
    assert re.search(r"^\$\(VENV\)/\.installed:.*\bconstraints\.txt\b", makefile, re.M), (
        "a changed constraints.txt must rebuild the venv"
    )


def test_dockerfile_installs_through_the_constraints() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    first_pip = next(i for i, line in enumerate(lines) if "pip install" in line)
    before = "\n".join(lines[:first_pip])
    assert "PIP_CONSTRAINT=/src/constraints.txt" in before
    assert re.search(r"^COPY constraints\.txt \./$", before, re.M), (
        "constraints.txt must be in the image before the first pip install"
    )


def test_constraints_file_is_in_the_docker_context() -> None:
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert "constraints.txt" not in ignored and "*.txt" not in ignored
