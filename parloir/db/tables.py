"""The Core ``Table`` of every model, for the services' ``select()``/``insert()`` statements."""

from __future__ import annotations

from sqlalchemy import Table

from parloir.db import models

__all__ = [
    "AGENTS",
    "API_KEYS",
    "AUDIT_EVENTS",
    "CONTACTS",
    "CONVERSATIONS",
    "FEEDBACK",
    "LLM_CALLS",
    "MESSAGES",
    "POSTS",
    "RETRIEVALS",
    "SESSIONS",
    "TABLES",
    "TENANTS",
    "USERS",
]

TABLES = models.Base.metadata.tables
"""Every table by name."""
_tables = TABLES
TENANTS: Table = _tables["tenants"]
USERS: Table = _tables["users"]
AGENTS: Table = _tables["agents"]
API_KEYS: Table = _tables["api_keys"]
CONTACTS: Table = _tables["contacts"]
CONVERSATIONS: Table = _tables["conversations"]
MESSAGES: Table = _tables["messages"]
LLM_CALLS: Table = _tables["llm_calls"]
RETRIEVALS: Table = _tables["retrievals"]
FEEDBACK: Table = _tables["feedback"]
SESSIONS: Table = _tables["sessions"]
AUDIT_EVENTS: Table = _tables["audit_events"]
POSTS: Table = _tables["posts"]
