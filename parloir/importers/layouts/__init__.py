"""The source layouts parloir imports, in detection order (most specific first)."""

from parloir.importers.layouts import jsonl, legacy, supabase, telegram  # noqa: F401
