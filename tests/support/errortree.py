"""Reading the exception tree an ``errors.py`` docstring draws (``├── Child  what``)."""
from __future__ import annotations

import re
from types import ModuleType

__all__ = ["assert_tree_matches", "drawn_parents"]


def drawn_parents(doc: str, root: str) -> dict[str, str]:
    """``{class name: parent name}`` as the docstring's tree drawing shows them."""
    drawn: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(\s*(?:[│├└─ ]*))([A-Z]\w+)\b", line)
        if not match or ("──" not in match.group(1) and match.group(2) != root):
            continue
        depth, name = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            drawn[name] = stack[-1][1]
        stack.append((depth, name))
    return drawn


def assert_tree_matches(module: ModuleType, root: str) -> None:
    """The drawing in ``module``'s docstring names every class of its ``__all__`` under its
    real parent."""
    classes = {name: getattr(module, name) for name in module.__all__
               if isinstance(getattr(module, name), type)}
    drawn = drawn_parents(module.__doc__ or "", root)
    assert set(drawn) | {root} == set(classes)
    for name, parent in drawn.items():
        assert classes[name].__bases__ == (classes[parent],), f"{name} is drawn under {parent}"
