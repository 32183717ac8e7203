"""Config problems with file and line, like `amtool check-config`: found at load, all at once."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)

ERROR = "error"
NOTE = "note"


@dataclass(frozen=True)
class Problem:
    """One finding: where it is, how serious (error stops the load; note informs), and what it is."""

    path: Path
    line: int
    level: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.level}: {self.message}"


class ConfigError(ValueError):
    """A config file with errors; the message lists every one with its file and line."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean "X"?)' for the closest choice, or ''."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f' (did you mean "{close[0]}"?)' if close else ""


class LineLocator:
    """Finds the line of a value in a YAML document by its path of keys and indexes."""

    def __init__(self, text: str):
        self._root = yaml.compose(text)

    def line(self, path: Sequence[str | int]) -> int:
        """1-based line of the deepest node along ``path`` that exists (1 when the document is empty)."""
        node = self._root
        if node is None:
            return 1
        for step in path:
            child = self._child(node, step)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1

    def key_line(self, path: Sequence[str | int]) -> int:
        """1-based line of the key that ends ``path`` (a mapping's own line is its first entry's); the value's
        line when the key is not found."""
        parent = self._root
        for step in path[:-1]:
            parent = self._child(parent, step) if parent is not None else None
        if isinstance(parent, yaml.MappingNode):
            key = next((k for k, _ in parent.value if k.value == str(path[-1])), None)
            if key is not None:
                return key.start_mark.line + 1
        return self.line(path)

    @staticmethod
    def _child(node: Any, step: str | int) -> Any:
        if isinstance(node, yaml.MappingNode):
            return next((value for key, value in node.value if key.value == str(step)), None)
        if isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            return node.value[step]
        return None


def load_yaml(path: Path) -> tuple[Any, LineLocator | None, list[Problem]]:
    """Parse a YAML file; a syntax error becomes a Problem at its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return None, None, [Problem(path, 1, ERROR, f"cannot read the file: {exc.strerror or exc}")]
    try:
        return yaml.safe_load(text), LineLocator(text), []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        return None, None, [Problem(path, (mark.line + 1) if mark else 1, ERROR, f"YAML syntax: {reason}")]


def validation_problems(path: Path, locator: LineLocator, error: ValidationError) -> list[Problem]:
    """Pydantic errors as Problems at the line of the offending value."""
    problems = []
    for item in error.errors():
        loc = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith(("function-", "tagged-union"))))
        where = ".".join(str(p) for p in loc) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        problems.append(Problem(path, locator.line(loc), ERROR, f"{where}: {message}"))
    return problems


def load_model(path: Path, model: type[M]) -> tuple[M | None, LineLocator | None, list[Problem]]:
    """Parse a YAML file into a frozen model; syntax and schema errors as Problems at their lines."""
    data, locator, problems = load_yaml(path)
    if problems or locator is None:
        return None, locator, problems
    try:
        return model.model_validate(data), locator, []
    except ValidationError as exc:
        return None, locator, validation_problems(path, locator, exc)
