"""Search queries: what a user types, parsed once, rendered safely for each database.

The syntax is the one web search engines taught everyone, and the one PostgreSQL's
``websearch_to_tsquery`` reads, plus prefixes:

* words are all required: ``refund invoice``;
* ``"a quoted phrase"`` matches the words in that order (an unclosed quote runs to the end);
* ``OR`` (upper case) between two terms accepts either;
* ``-word`` or ``-"a phrase"`` excludes messages that contain it;
* ``word*`` matches every word that starts with ``word``.

Nothing a user types can reach the database as syntax. For SQLite every term becomes an FTS5
string (in double quotes, inner quotes doubled), so ``NEAR``, ``AND``, ``col:x``, ``^``,
parentheses and stray operators are just text the tokenizer splits. For PostgreSQL every term
is a bound parameter of ``phraseto_tsquery``, and a prefix is rebuilt for ``to_tsquery`` from
word characters only, each quoted; the terms are joined with ``tsquery_and``, ``tsquery_or`` and
``tsquery_not`` in SQL. A query with no searchable word (empty, only punctuation, only
exclusions) is rejected with :class:`~parloir.errors.InvalidInputError` on the field ``query``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func

from parloir.errors import InvalidInputError

__all__ = ["MAX_QUERY_LENGTH", "MAX_TERMS", "ParsedQuery", "Term", "parse_query"]

MAX_QUERY_LENGTH = 1_000
"""Longest query accepted, in code points."""

MAX_TERMS = 32
"""Most terms (words, phrases, prefixes, exclusions) in one query."""

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w+")
_INDEXED = frozenset({"So", "Co", "Mn", "Mc"})


@dataclass(frozen=True)
class Term:
    """One word or phrase to look for; ``prefix`` matches words starting with its last word."""

    text: str
    prefix: bool = False

    def fts5(self) -> str:
        """The term as an FTS5 string: inside double quotes nothing is an operator."""
        return '"' + self.text.replace('"', '""') + '"' + ("*" if self.prefix else "")

    def tsquery(self, config: Any, name: str) -> Any:
        """The term as a PostgreSQL tsquery expression, with its text as a bound parameter."""
        words = _WORD.findall(self.text)
        if self.prefix and words:
            # Only word characters, each in single quotes: to_tsquery cannot see syntax here.
            text = " <-> ".join(f"'{word}'" for word in words) + ":*"
            return func.to_tsquery(config, bindparam(name, text))
        return func.phraseto_tsquery(config, bindparam(name, self.text))


@dataclass(frozen=True)
class ParsedQuery:
    """Required clauses (each one term or several alternatives) and excluded terms."""

    clauses: tuple[tuple[Term, ...], ...]
    excluded: tuple[Term, ...]

    @property
    def has_prefix(self) -> bool:
        """True if a term to look for (not an excluded one) is a prefix."""
        return any(term.prefix for clause in self.clauses for term in clause)

    def fts5(self) -> str:
        """The query as an FTS5 MATCH expression."""
        required = " AND ".join(_group([term.fts5() for term in c]) for c in self.clauses)
        if not self.excluded:
            return required
        return f"({required}) NOT " + _group([term.fts5() for term in self.excluded])

    def tsquery(self, config: Any) -> Any:
        """The query as one PostgreSQL tsquery expression (``config`` is a regconfig)."""
        names = iter(f"search_term_{i}" for i in range(MAX_TERMS + 1))
        query: Any = None
        for clause in self.clauses:
            either = _combine([t.tsquery(config, next(names)) for t in clause], func.tsquery_or)
            query = either if query is None else func.tsquery_and(query, either)
        for term in self.excluded:
            query = func.tsquery_and(query, func.tsquery_not(term.tsquery(config, next(names))))
        return query


def _group(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"


def _combine(parts: list[Any], operator: Any) -> Any:
    result = parts[0]
    for part in parts[1:]:
        result = operator(result, part)
    return result


def _searchable(text: str) -> bool:
    """True if the text holds a character the tokenizers index (letters, digits, symbols)."""
    return any(unicodedata.category(ch) in _INDEXED or ch.isalnum() for ch in text)


def parse_query(query: str) -> ParsedQuery:
    """Parse a user's search string, or raise ``InvalidInputError`` naming ``query``."""
    if not isinstance(query, str):
        raise InvalidInputError.single("query", "type", "must be a string")
    if len(query) > MAX_QUERY_LENGTH:
        raise InvalidInputError.single(
            "query", "max_length", f"must be at most {MAX_QUERY_LENGTH} characters"
        )
    clauses: list[list[Term]] = []
    excluded: list[Term] = []
    either = False
    # Control characters and lone surrogates separate words; neither database takes them.
    query = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in query)
    for match in _TOKEN.finditer(query):
        negated, phrase, bare = match.group(1), match.group(2), match.group(3)
        if bare == "OR":
            either = bool(clauses)
            continue
        if bare is not None:
            negated = "-" if bare.startswith("-") and len(bare) > 1 else ""
            text = bare[1:] if negated else bare
            term = Term(text.rstrip("*"), prefix=text.endswith("*"))
        else:
            term = Term(phrase)
        if not _searchable(term.text):
            continue
        if negated:
            excluded.append(term)
        elif either:
            clauses[-1].append(term)
        else:
            clauses.append([term])
        either = False
    if sum(map(len, clauses)) + len(excluded) > MAX_TERMS:
        raise InvalidInputError.single("query", "max_terms", f"must have at most {MAX_TERMS} terms")
    if not clauses:
        raise InvalidInputError.single(
            "query", "words", "must contain a word to look for, other than excluded ones"
        )
    return ParsedQuery(tuple(tuple(c) for c in clauses), tuple(excluded))
