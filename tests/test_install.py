"""Installs are reproducible: both README commands and CI install through the checked-in
constraints, and the constraints pin every dependency the project declares."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_readme_commands_install_from_the_constraints() -> None:
    readme = ROOT.joinpath("README.md").read_text("utf-8")
    run, test = re.search(r"```sh\n(.+)\n(.+)\n```", readme).groups()
    assert "pip install -c constraints.txt" in run
    assert test.startswith("sh test.sh")
    script = ROOT.joinpath("test.sh").read_text("utf-8")
    assert re.search(r"pip install -q -c constraints.txt -e \"\.\[dev\]\"", script)
    assert "sh ./test.sh" in ROOT.joinpath(".ci", "run").read_text("utf-8")


def test_constraints_pin_every_declared_dependency() -> None:
    project = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text("utf-8"))["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    pins = {}
    for line in ROOT.joinpath("constraints.txt").read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[_name(name)] = version
    assert declared - set(pins) == set()
    assert all(re.fullmatch(r"[0-9][0-9A-Za-z.+]*", v) for v in pins.values())
    assert pins["pytest"].split(".")[0] == "8"  # schemathesis 4.32 breaks on pytest 9


def test_the_build_backend_is_pinned_as_in_the_constraints() -> None:
    """pip builds the project in an isolated environment that `-c` does not reach."""
    build = tomllib.loads(ROOT.joinpath("pyproject.toml").read_text("utf-8"))["build-system"]
    pins = dict(line.split("==") for line in
                ROOT.joinpath("constraints.txt").read_text("utf-8").splitlines()
                if "==" in line and not line.startswith("#"))
    assert build["requires"] == [f"setuptools=={pins['setuptools']}"]
