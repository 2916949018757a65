"""Files the tests read, located relative to the repository so a fresh clone needs nothing else."""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MEMBER_CONCENTRATIONS_CSV = REPO_ROOT / "data" / "member_concentrations_2014.csv"
