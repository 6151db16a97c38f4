"""The source layouts parloir imports, in detection order (most specific first)."""

from parloir.importers.layouts import (  # noqa: F401
    jsonl,
    langchain,
    legacy,
    linkedin,
    rag,
    supabase,
    telegram,
)
