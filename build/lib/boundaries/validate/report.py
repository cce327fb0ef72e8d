"""What validation found: `Problem`, `Report`, and `Findings`, which builds them per feature.

Why: one report shape serves the CLI (its summary lines), the API (its dict, sent as is)
and the editor (problems tied to features). A problem about a feature must let a planner
find that feature, so `Findings` gives every per-feature problem the feature's own file
index and code, and the summary names both; a problem between two features (an overlap)
names the other party in its detail and message as well.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file or a feature; `fatal=False` is a warning."""

    code: str
    message: str
    index: int | None = None  # 0-based feature position in the file
    feature_code: str | None = None  # the feature's area code, when it has one
    fatal: bool = True
    detail: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def feature(self) -> str | None:
        """"#index (code)" naming the feature a problem is about ("#index" when it has no
        code); None for a problem about the file or a parent area."""
        if self.index is None:
            return None
        if self.feature_code is None:
            return f"#{self.index}"
        return f"#{self.index} ({self.feature_code})"


@dataclass
class Report:
    """All problems found in one import; `ok` when none of them is fatal."""

    problems: list[Problem]

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.fatal]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.fatal]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }

    def summary(self) -> str:
        """One line per problem, "#index (code) problem: message": the feature's file index
        and its own code ("#-" when the problem is not about one feature)."""
        if not self.problems:
            return "no problems"
        return "\n".join(f"{p.feature or '#-'} {p.code}: {p.message}" for p in self.problems)


class Findings:
    """The rows under check (file positions, codes) and the problems found so far."""

    def __init__(self, rows: list[int], codes: list[str | None]) -> None:
        self.rows, self.codes = rows, codes
        self.problems: list[Problem] = []

    def add(self, i: int, code: str, message: str, fatal: bool = True, **detail: Any) -> None:
        """A problem with row `i` (a position in the frame), carrying the feature's own file
        index and code."""
        self.problems.append(Problem(code, message, self.rows[i], self.codes[i], fatal, detail))
