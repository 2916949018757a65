"""The repository stands alone: nothing it runs reaches outside its own tree."""

from __future__ import annotations

import re
import subprocess

import pytest

from tests.paths import MEMBER_CONCENTRATIONS_CSV, REPO_ROOT

# ../shared, a shared/ data or spec folder, or an absolute path into a machine's work area
OUTSIDE = re.compile(r"\.\./shared|shared/(data|discord-api-spec)|[\"']/(work|root|home)/")
CHECKED_SUFFIXES = {".py", ".sh", ".toml", ".ini", ".cfg", ""}


def _tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    return result.stdout.splitlines()


def test_no_code_reads_outside_the_repository() -> None:
    offenders = []
    for name in _tracked_files():
        path = REPO_ROOT / name
        is_script = name.startswith(("scripts/", ".ci/"))
        if not (path.suffix in CHECKED_SUFFIXES and (path.suffix or is_script)):
            continue
        if name == "tests/test_standalone.py" or not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


def test_the_repository_carries_its_data_and_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.spec import BUNDLED_SPEC, find_spec_path

    monkeypatch.delenv("TWIN_OPENAPI_SPEC", raising=False)
    assert MEMBER_CONCENTRATIONS_CSV.is_file()
    assert BUNDLED_SPEC.is_file()
    assert BUNDLED_SPEC.is_relative_to(REPO_ROOT)
    assert (BUNDLED_SPEC.parent / "README.md").is_file()
    assert find_spec_path() == BUNDLED_SPEC
