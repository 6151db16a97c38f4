"""Full-text search over message content, ranked, one page at a time (as ``parloir search``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from parloir.errors import FieldError, InvalidInputError
from parloir.inputs import Role
from parloir.schemas import Page, SearchHit
from parloir.search import MAX_LIMIT
from parloir.search_query import MAX_QUERY_LENGTH
from parloir.server.deps import Reader
from parloir.server.problems import responses
from parloir.server.scoping import agent_filter
from parloir.validation import Text

router = APIRouter(prefix="/v1/search", tags=["search"])
R = responses(403, 404)


@router.get("", response_model=Page[SearchHit], responses=R)
def search(
    ctx: Reader,
    q: Annotated[Text, Query(min_length=1, max_length=MAX_QUERY_LENGTH)],
    agent_id: uuid.UUID | None = None,
    channel: Annotated[Text | None, Query(max_length=32)] = None,
    role: Role | None = None,
    contact_id: uuid.UUID | None = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    cursor: Annotated[Text | None, Query(max_length=64)] = None,
) -> Page[SearchHit]:
    """Messages whose content matches ``q``, best match first; a bot searches its agent's.

    ``q`` takes words (all required), ``"quoted phrases"``, ``OR`` between terms,
    ``-excluded`` terms and ``prefix*`` words. Each hit's ``snippet`` marks matches with
    ``[`` and ``]``; ``snippet_parts`` holds the same text as ``(text, is_match)`` pairs.
    Pass ``next_cursor`` back as ``cursor`` for the next page.
    """
    try:
        return ctx.store.search(
            q,
            agent_id=agent_filter(ctx, agent_id),
            channel=channel,
            role=role,
            contact_id=contact_id,
            since=since,
            until=until,
            limit=limit,
            cursor=cursor,
        )
    except InvalidInputError as error:
        raise InvalidInputError([_named(e) for e in error.errors]) from None


def _named(error: FieldError) -> FieldError:
    """The library names the query ``query``; here it is the parameter ``q``."""
    if error.field != "query":
        return error
    return FieldError(field="q", rule=error.rule, message=error.message)
