"""Cache keys: what makes two responses, two verdicts or two runs the same."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def cache_key(*parts: Any) -> str:
    """A SHA-256 over JSON-encoded parts (identity, parameters, content)."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
