"""YAML read with the line of every key, so that a validation error can point at its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from medsafe.errors import InputError


def parse_yaml(text: str, path: Path | str) -> tuple[Any, yaml.Node | None]:
    """The data of a YAML document and its node tree (None for an empty document).

    A key written twice is an error: PyYAML would keep the last one silently, and a run file
    whose second ``limit:`` wins without a word does not reproduce what its author meant.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(path, line, None, f"invalid YAML: {problem}") from None
    if root is None:
        return None, None
    _refuse_duplicate_keys(root, path)
    # Rebuilding from the text (not from the nodes) keeps PyYAML's own typing of scalars.
    return yaml.safe_load(text), root


def _refuse_duplicate_keys(node: yaml.Node, path: Path | str, seen: set[int] | None = None) -> None:
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias points back at a node already checked
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        keys: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in keys:
                raise InputError(path, key.start_mark.line + 1, name,
                                 "this key is given twice; keep one")
            keys.add(name)
            _refuse_duplicate_keys(value, path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _refuse_duplicate_keys(child, path, seen)


def node_line(root: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (keys and list indexes), or of its nearest
    parent that exists (an unknown key is found itself; a missing one points at its mapping)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if str(k.value) == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
