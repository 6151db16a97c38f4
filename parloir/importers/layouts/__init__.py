"""The source layouts parloir imports, in detection order (most specific first)."""

from parloir.importers.layouts import jsonl, legacy, telegram  # noqa: F401
