"""The source layouts parloir imports, in detection order (most specific first)."""

from parloir.importers.layouts import jsonl, legacy, linkedin, supabase, telegram  # noqa: F401
