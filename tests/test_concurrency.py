"""Concurrent writers on one conversation, on SQLite and PostgreSQL.

Threads share one store; processes (spawned, so nothing is inherited) open their own. Whatever
the interleaving, seq stays gapless, counters stay exact and idempotency keys stay unique.
"""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from parloir import Store

THREADS = 8
PROCESSES = 4
PER_WORKER = 50


def run_together(count: int, work: Callable[[int], object]) -> list[object]:
    """Run ``work(i)`` for i in range(count) on as many threads, released at the same moment."""
    barrier = threading.Barrier(count)

    def start(i: int) -> object:
        barrier.wait(timeout=30)
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def assert_gapless(store: Store, conversation_id: uuid.UUID, expected: int) -> list:
    messages = store.messages_after(conversation_id, 0, limit=10_000)
    conversation = store.get_conversation(conversation_id)
    assert [m.seq for m in messages] == list(range(1, expected + 1))
    assert conversation.message_count == expected
    assert conversation.last_seq == expected
    assert conversation.last_message_at == max(m.created_at for m in messages)
    return messages


def test_threads_appending_to_one_conversation_get_gapless_seqs(make_store, agent_id):
    store = make_store()  # the real clock: every message gets its own created_at
    cid = store.get_or_create_conversation(agent_id=agent_id, channel="web").id

    def append(i: int) -> list[int]:
        content = "thread {} message {}"
        return [
            store.append_message(cid, role="user", content=content.format(i, n)).seq
            for n in range(PER_WORKER)
        ]

    total = THREADS * PER_WORKER
    per_thread = run_together(THREADS, append)
    messages = assert_gapless(store, cid, total)
    assert sorted(seq for seqs in per_thread for seq in seqs) == list(range(1, total + 1))
    assert all(seqs == sorted(seqs) for seqs in per_thread)  # each thread's own order kept
    assert len({m.content for m in messages}) == total


def append_from_process(url: str, conversation_id: str, worker: int, count: int) -> None:
    """Child process: open a store of its own and append ``count`` keyed messages."""
    store = Store.open(url)
    try:
        cid = uuid.UUID(conversation_id)
        for n in range(count):
            key = f"p{worker}-{n}"
            store.append_message(cid, role="user", content=f"message {key}", idempotency_key=key)
    finally:
        store.close()


def test_processes_resending_the_same_keys_store_each_message_once(
    database_url, make_store, agent_id
):
    store = make_store()
    cid = store.get_or_create_conversation(agent_id=agent_id, channel="web").id
    spawn = multiprocessing.get_context("spawn")
    # Every worker runs twice at the same time: the second round re-sends the first's keys.
    processes = [
        spawn.Process(target=append_from_process, args=(database_url, str(cid), i, PER_WORKER))
        for _round in range(2)
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in processes] == [0] * len(processes)

    total = PROCESSES * PER_WORKER
    messages = assert_gapless(store, cid, total)
    keys = [m.idempotency_key for m in messages]
    expected = {f"p{i}-{n}" for i in range(PROCESSES) for n in range(PER_WORKER)}
    assert len(keys) == len(set(keys)) == total
    assert set(keys) == expected
    assert all(m.content == f"message {m.idempotency_key}" for m in messages)


def test_threads_sending_the_same_key_store_it_once(store, conversation_id):
    def send(_i: int):
        return store.append_message(
            conversation_id, role="user", content="only once", idempotency_key="same-key"
        )

    results = run_together(THREADS, send)
    assert len({m.id for m in results}) == 1
    assert sorted(m.duplicate for m in results) == [False] + [True] * (THREADS - 1)
    assert all(m.seq == 1 for m in results)
    assert_gapless(store, conversation_id, 1)


def test_threads_creating_the_same_conversation_get_one_id(store, agent_id):
    def create(_i: int):
        return store.get_or_create_conversation(
            agent_id=agent_id, channel="telegram", external_id="race"
        )

    results = run_together(THREADS, create)
    assert len({c.id for c in results}) == 1
    assert sorted(c.created for c in results) == [False] * (THREADS - 1) + [True]
    listed = store.list_conversations(agent_id=agent_id).items
    assert [c.id for c in listed] == [results[0].id]
