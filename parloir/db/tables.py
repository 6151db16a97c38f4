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

TENANTS: Table = TABLES["tenants"]
USERS: Table = TABLES["users"]
AGENTS: Table = TABLES["agents"]
API_KEYS: Table = TABLES["api_keys"]
CONTACTS: Table = TABLES["contacts"]
CONVERSATIONS: Table = TABLES["conversations"]
MESSAGES: Table = TABLES["messages"]
LLM_CALLS: Table = TABLES["llm_calls"]
RETRIEVALS: Table = TABLES["retrievals"]
FEEDBACK: Table = TABLES["feedback"]
SESSIONS: Table = TABLES["sessions"]
AUDIT_EVENTS: Table = TABLES["audit_events"]
POSTS: Table = TABLES["posts"]
