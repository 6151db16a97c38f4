"""Full-text search: what it finds, filters, pages, tenants, deletion, and hostile queries."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Uuid, bindparam, create_engine, text

from parloir import ConfigError, InvalidInputError, Settings, Store, messages
from parloir.db import migrate, search_index
from parloir.db.engine import create_engines
from parloir.search import split_snippet

WEIRD_QUERIES = [
    "'; DROP TABLE messages;--",
    '" OR 1=1 --',
    "%' --",
    "\\",
    "NEAR(",
    "NEAR(a b, 2)",
    '"unbalanced',
    'un"balanced',
    "a AND",
    "AND a",
    "OR OR",
    "*",
    "a*b*",
    "-",
    "--a",
    "col:xyz",
    "content:refund",
    "^",
    "^refund",
    "(refund",
    "refund)",
    "{a b}",
    "a + b",
    "a:* & b",
    "!!a",
    "'quoted'",
    "a\x00b",
    "\ud800 lone surrogate",
    "tab\tand\nnewline",
    "\u202eevil",
    " ".join(["a OR"] * 15) + " a",
]


def _ids(page) -> list[uuid.UUID]:
    return [hit.message_id for hit in page.items]


def _conversation(store: Store, agent_id: uuid.UUID, key: str, **extra) -> uuid.UUID:
    fields = {"agent_id": agent_id, "channel": "web", "external_id": key, **extra}
    return store.get_or_create_conversation(**fields).id


def _say(store: Store, conversation_id: uuid.UUID, content: str, role: str = "user") -> uuid.UUID:
    return store.append_message(conversation_id, role=role, content=content).id


def _sql(database_url: str, statement: str, **params) -> None:
    """Run one statement outside parloir, as another program would."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            query = text(statement).bindparams(
                *(bindparam(name, type_=Uuid()) for name in params if name.endswith("id"))
            )
            conn.execute(query, params)
    finally:
        engine.dispose()


def _fts_integrity(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        return
    _sql(database_url, "INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)")


def test_finds_words_and_ranks_the_denser_match_first(store, conversation_id):
    once = _say(store, conversation_id, "I would like a refund for my last order, it never came")
    thrice = _say(store, conversation_id, "refund refund refund")
    _say(store, conversation_id, "Where is my parcel?")
    page = store.search("refund")
    assert _ids(page) == [thrice, once]
    assert page.next_cursor is None
    assert page.items[0].score > page.items[1].score
    assert "[refund]" in page.items[1].snippet
    assert store.search("parcel").items[0].snippet == "Where is my [parcel]?"


def test_every_word_is_required_and_phrases_keep_their_order(store, conversation_id):
    both = _say(store, conversation_id, "the invoice for the refund")
    _say(store, conversation_id, "the invoice only")
    reversed_words = _say(store, conversation_id, "refund the invoice now")
    assert _ids(store.search("invoice refund")) and set(_ids(store.search("invoice refund"))) == {
        both,
        reversed_words,
    }
    assert _ids(store.search('"invoice for the refund"')) == [both]


def test_or_and_exclusion(store, conversation_id):
    cat = _say(store, conversation_id, "a cat")
    dog = _say(store, conversation_id, "a dog")
    both = _say(store, conversation_id, "a cat and a dog")
    assert set(_ids(store.search("cat OR dog"))) == {cat, dog, both}
    assert _ids(store.search("cat -dog")) == [cat]
    assert _ids(store.search('cat -"and a dog"')) == [cat]


def test_prefix_matches_the_start_of_words(store, conversation_id):
    refund = _say(store, conversation_id, "refunded yesterday")
    _say(store, conversation_id, "a prefunded account")
    assert _ids(store.search("refun*")) == [refund]


def test_accents_emoji_and_right_to_left_text(store, conversation_id):
    cafe = _say(store, conversation_id, "Le café est prêt, à bientôt")
    arabic = _say(store, conversation_id, "مرحبا بالعالم")
    hebrew = _say(store, conversation_id, "שלום עולם")
    pizza = _say(store, conversation_id, "pizza 🍕 tonight")
    assert _ids(store.search("café")) == [cafe]
    assert _ids(store.search("bientôt")) == [cafe]
    assert _ids(store.search("بالعالم")) == [arabic]
    assert _ids(store.search("עולם")) == [hebrew]
    assert _ids(store.search("pizza")) == [pizza]
    if store.dialect == "sqlite":
        # unicode61 with remove_diacritics 2, and emoji as words.
        assert _ids(store.search("cafe")) == [cafe]
        assert _ids(store.search("BIENTOT")) == [cafe]
        assert _ids(store.search("🍕")) == [pizza]
    else:
        # PostgreSQL's parser drops symbols: an emoji query finds nothing, and does not fail.
        assert _ids(store.search("🍕")) == []


@pytest.mark.postgresql
def test_postgres_language_setting_indexes_and_searches_with_stemming(postgres_url):
    with Store.open(settings=Settings(database_url=postgres_url, search_language="english")) as en:
        tenant = en.create_tenant(name="English", slug=f"en-{uuid.uuid4().hex[:8]}")
        english = en.for_tenant(tenant.id)
        agent = english.create_agent(name="en")
        conversation = _conversation(english, agent.id, "en-1")
        running = _say(english, conversation, "She was running late")
        assert _ids(english.search("runs")) == [running]
        assert _ids(english.search("the run")) == [running]  # a stop word is no requirement
    with Store.open(postgres_url, tenant_id=tenant.id) as simple:
        assert _ids(simple.search("runs")) == []  # indexed as english: the lexeme is 'run'
        simple.rebuild_search_index()
        assert _ids(simple.search("running")) == [running]


@pytest.mark.postgresql
def test_unknown_postgres_language_is_refused_on_connect(postgres_url):
    with pytest.raises(ConfigError, match="klingon"):
        Store.open(settings=Settings(database_url=postgres_url, search_language="klingon"))


def test_snippet_markers_and_parts(store, conversation_id):
    _say(store, conversation_id, "Please send the invoice again & [soon]")
    hit = store.search("invoice", markers=("<mark>", "</mark>")).items[0]
    assert hit.snippet == "Please send the <mark>invoice</mark> again & [soon]"
    assert hit.snippet_parts == [
        ("Please send the ", False),
        ("invoice", True),
        (" again & [soon]", False),
    ]


def test_split_snippet_keeps_text_and_matches_in_order():
    assert split_snippet("a \ue000b\ue001 c \ue000d\ue001") == [
        ("a ", False),
        ("b", True),
        (" c ", False),
        ("d", True),
    ]
    assert split_snippet("") == []


def test_hit_carries_what_a_result_list_shows(store, agent_id, clock):
    contact = store.upsert_contact(channel="telegram", external_id="42", name="Ann")
    conversation = _conversation(store, agent_id, "t-1", contact_id=contact.id, channel="telegram")
    message = _say(store, conversation, "the answer", role="assistant")
    hit = store.search("answer").items[0]
    assert (hit.message_id, hit.conversation_id, hit.agent_id) == (message, conversation, agent_id)
    assert (hit.contact_id, hit.channel, hit.role, hit.seq) == (
        contact.id,
        "telegram",
        "assistant",
        1,
    )
    assert hit.created_at == clock.now


def test_each_filter_narrows_the_hits(store, clock):
    first = store.create_agent(name="first")
    second = store.create_agent(name="second")
    contact = store.upsert_contact(channel="telegram", external_id="7")
    web = _conversation(store, first.id, "w")
    tg = _conversation(store, first.id, "t", channel="telegram", contact_id=contact.id)
    other = _conversation(store, second.id, "o")
    early = _say(store, web, "hello from the web")
    clock.advance(hours=1)
    reply = _say(store, web, "hello back", role="assistant")
    telegram = _say(store, tg, "hello from telegram")
    clock.advance(hours=1)
    second_agent = _say(store, other, "hello from the second agent")
    assert len(store.search("hello").items) == 4
    assert set(_ids(store.search("hello", agent_id=first.id))) == {early, reply, telegram}
    assert _ids(store.search("hello", agent_id=second.id)) == [second_agent]
    assert _ids(store.search("hello", channel="telegram")) == [telegram]
    assert _ids(store.search("hello", contact_id=contact.id)) == [telegram]
    assert _ids(store.search("hello", role="assistant")) == [reply]
    start = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
    assert _ids(store.search("hello", until=start + timedelta(minutes=30))) == [early]
    hour = store.search("hello", since=start + timedelta(hours=1), until=start + timedelta(hours=2))
    assert set(_ids(hour)) == {reply, telegram}
    assert _ids(store.search("hello", since=start + timedelta(hours=2))) == [second_agent]


def test_pages_walk_every_hit_once_in_rank_order(store, conversation_id):
    expected = set()
    for i in range(23):
        expected.add(_say(store, conversation_id, " ".join(["parcel"] * (1 + i % 4) + ["x"] * i)))
    _say(store, conversation_id, "nothing to see")
    seen, scores, cursor = [], [], None
    while True:
        page = store.search("parcel", limit=5, cursor=cursor)
        seen += _ids(page)
        scores += [hit.score for hit in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == expected
    assert scores == sorted(scores, reverse=True)
    assert _ids(store.search("parcel", limit=100)) == seen


def test_other_tenants_are_never_returned(store, make_store, clock):
    other_tenant = store.create_tenant(name="Other", slug="other")
    other = store.for_tenant(other_tenant.id)
    mine = {}
    for view, label in ((store, "mine"), (other, "theirs")):
        agent = view.create_agent(name="bot")
        conversation = _conversation(view, agent.id, "shared-key")
        mine[label] = {_say(view, conversation, f"secret canary word {i}") for i in range(7)}
    for view, label in ((store, "mine"), (other, "theirs")):
        found, cursor = set(), None
        while True:
            page = view.search("canary", limit=3, cursor=cursor)
            found |= set(_ids(page))
            cursor = page.next_cursor
            if cursor is None:
                break
        assert found == mine[label]
    assert not set(_ids(store.search("secret OR canary OR word", limit=100))) & mine["theirs"]


def test_sql_delete_of_a_message_removes_it_from_the_index(store, database_url, conversation_id):
    kept = _say(store, conversation_id, "ephemeral but kept")
    gone = _say(store, conversation_id, "ephemeral and deleted")
    _sql(database_url, "DELETE FROM messages WHERE id = :message_id", message_id=gone)
    assert _ids(store.search("ephemeral")) == [kept]
    assert _ids(store.search("deleted")) == []
    _fts_integrity(database_url)


def test_deleting_a_conversation_removes_its_messages_from_the_index(store, database_url, agent_id):
    doomed = _conversation(store, agent_id, "doomed")
    alive = _conversation(store, agent_id, "alive")
    _say(store, doomed, "lighthouse one")
    _say(store, doomed, "lighthouse two")
    survivor = _say(store, alive, "lighthouse three")
    _sql(
        database_url,
        "DELETE FROM conversations WHERE id = :conversation_id",
        conversation_id=doomed,
    )
    assert _ids(store.search("lighthouse")) == [survivor]
    _fts_integrity(database_url)


def test_sql_update_of_content_reindexes_the_message(store, database_url, conversation_id):
    message = _say(store, conversation_id, "original wording")
    _sql(
        database_url,
        "UPDATE messages SET content = 'corrected wording' WHERE id = :message_id",
        message_id=message,
    )
    assert _ids(store.search("original")) == []
    assert _ids(store.search("corrected")) == [message]
    _fts_integrity(database_url)


@pytest.mark.parametrize("query", WEIRD_QUERIES)
def test_weird_queries_never_raise_a_database_error(store, conversation_id, query):
    _say(store, conversation_id, "refund a b content col xyz evil")
    try:
        store.search(query)
    except InvalidInputError as error:
        assert [e.field for e in error.errors] == ["query"]


def test_weird_strings_as_content_are_found_verbatim(store, conversation_id):
    for query in WEIRD_QUERIES[:8]:
        message = _say(store, conversation_id, f"zebra {query.replace(chr(0), '')}")
        assert message in _ids(store.search("zebra", limit=100))
    assert store.get_message(message).content == "zebra " + WEIRD_QUERIES[7]


@pytest.mark.parametrize("query", ["", "   ", "*", '""', "-refund", "OR", "-- !!", "😀" * 0])
def test_a_query_without_words_is_rejected_naming_the_field(store, query):
    with pytest.raises(InvalidInputError) as caught:
        store.search(query)
    assert caught.value.errors[0].field == "query"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "AAAA"}, "cursor"),
        ({"role": "robot"}, "role"),
        ({"since": datetime(2026, 1, 1)}, "since"),
        ({"until": datetime(2026, 1, 1)}, "until"),
    ],
)
def test_bad_arguments_are_rejected_naming_the_field(store, kwargs, field):
    with pytest.raises(InvalidInputError) as caught:
        store.search("hello", **kwargs)
    assert caught.value.errors[0].field == field


def test_too_long_or_too_many_terms_is_rejected(store):
    with pytest.raises(InvalidInputError, match="max_length"):
        store.search("a" * 1001)
    with pytest.raises(InvalidInputError, match="max_terms"):
        store.search(" ".join(f"w{i}" for i in range(33)))


def test_the_migration_indexes_messages_stored_before_it(store, database_url, conversation_id):
    before = _say(store, conversation_id, "archived wisdom")
    engines = create_engines(Settings(database_url=database_url))
    try:
        migrate.downgrade(engines.owner, "0002")
        migrate.upgrade(engines.owner)
    finally:
        engines.dispose()
    assert _ids(store.search("wisdom")) == [before]
    after = _say(store, conversation_id, "fresh wisdom")
    assert set(_ids(store.search("wisdom"))) == {before, after}
    _fts_integrity(database_url)


def test_rebuilding_the_index_keeps_every_hit(store, conversation_id):
    ids = {_say(store, conversation_id, f"rebuild target {i}") for i in range(5)}
    store.rebuild_search_index()
    assert set(_ids(store.search("target"))) == ids


def test_a_common_query_ranks_the_most_recent_window_of_matches(
    store, conversation_id, monkeypatch
):
    import parloir.search

    monkeypatch.setattr(parloir.search, "RANK_WINDOW", 4)
    ids = [_say(store, conversation_id, "common " * (1 + i % 3)) for i in range(9)]
    first = store.search("common", limit=3)
    rest = store.search("common", limit=3, cursor=first.next_cursor)
    assert set(_ids(first) + _ids(rest)) == set(ids[-4:])
    assert rest.next_cursor is None


def test_a_prefix_query_ranks_a_smaller_window_of_matches(store, conversation_id, monkeypatch):
    import parloir.search

    monkeypatch.setattr(parloir.search, "RANK_WINDOW", 6)
    monkeypatch.setattr(parloir.search, "PREFIX_WINDOW", 3)
    ids = [_say(store, conversation_id, "window " * (1 + i % 3)) for i in range(9)]
    assert set(_ids(store.search("window", limit=20))) == set(ids[-6:])
    assert set(_ids(store.search("win*", limit=20))) == set(ids[-3:])
    # Only a prefix to look for shrinks the window, not an excluded one.
    assert set(_ids(store.search("window -zzz*", limit=20))) == set(ids[-6:])


def test_each_hit_of_a_page_gets_its_own_snippet_among_other_matches(store, conversation_id):
    # The page's hits are spread among matches that are not on it (they rank lower).
    texts = {}
    for i in range(30):
        words = ["prefixed"] * (3 if i % 3 == 0 else 1) + [f"tag{i}"] + ["filler"] * (i % 3)
        texts[_say(store, conversation_id, " ".join(words))] = f"tag{i}"
    for query in ("prefixed", "prefix*"):
        page = store.search(query, limit=10)
        assert len(page.items) == 10
        for hit in page.items:
            assert "[prefixed]" in hit.snippet
            assert texts[hit.message_id] in hit.snippet


@pytest.mark.sqlite
def test_sqlite_has_fts5_and_the_index_leaves_the_pragmas_alone(sqlite_template, tmp_path):
    shutil.copy(sqlite_template, tmp_path / "parloir.db")
    engine = create_engines(Settings(database_url=f"sqlite:///{tmp_path / 'parloir.db'}"))
    try:
        with engine.write.connect() as conn:
            assert search_index.sqlite_has_fts5(conn)
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
            kinds = dict(conn.exec_driver_sql("SELECT name, type FROM sqlite_master").all())
    finally:
        engine.dispose()
    assert kinds["messages_fts"] == "table"
    assert {kinds[f"messages_fts_{t}"] for t in ("insert", "delete", "update")} == {"trigger"}


def test_search_language_must_be_a_plain_configuration_name():
    assert Settings(search_language="pg_catalog.english").search_language == "pg_catalog.english"
    for bad in ("english'; DROP TABLE messages; --", "", "two words", "a.b.c"):
        with pytest.raises(ConfigError, match="search_language"):
            Settings(search_language=bad)
    env = Settings.from_env({"PARLOIR_SEARCH_LANGUAGE": "french", "PARLOIR_HOME": "/tmp"})
    assert env.search_language == "french"


@pytest.mark.parametrize("size", [messages.STAGED_FROM - 1, messages.STAGED_FROM, 40])
def test_batches_of_any_size_are_indexed_in_order(store, database_url, conversation_id, size):
    """Small batches are inserted row by row, bigger ones through a staging table (SQLite):
    both keep the order, the seqs, the counters and the index in step."""
    items = [{"role": "user", "content": "parcel number0 lost", "idempotency_key": "k0"}]
    items += [
        {"role": "user", "content": f"parcel number{i} lost", "idempotency_key": f"k{i}"}
        for i in range(size)
    ]  # the first item is repeated: a duplicate within the batch
    batch = store.append_messages(conversation_id, items)
    assert [m.seq for m in batch] == [1, *range(1, size + 1)]
    assert [m.duplicate for m in batch] == [False, True, *[False] * (size - 1)]
    assert len(store.search("parcel", limit=100).items) == size
    assert _ids(store.search("number3")) == ([batch[4].id] if size > 3 else [])
    stored = store.messages_after(conversation_id, 0, limit=100)
    assert [m.content for m in stored] == [f"parcel number{i} lost" for i in range(size)]
    assert store.totals().messages == size
    again = store.append_messages(conversation_id, items)
    assert all(m.duplicate for m in again) and store.totals().messages == size
    _fts_integrity(database_url)
