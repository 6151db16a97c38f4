"""Shared pieces: the run configuration, result records, statistics and timing loops."""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, Protocol

PG_HOST = "127.0.0.1"
PG_PORT = 5432
PG_USER = "postgres"
PG_DATABASE = "parloir_bench"
BATCH_SIZE = 1_000
CONTEXT_MAX_MESSAGES = 50
CONTEXT_MAX_TOKENS = 4_000
LAST_N = 50


def pg_url(database: str = PG_DATABASE, driver: str = "") -> str:
    """A loopback PostgreSQL URL; ``driver="psycopg"`` gives the SQLAlchemy form."""
    scheme = f"postgresql+{driver}" if driver else "postgresql"
    return f"{scheme}://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


@dataclass(frozen=True)
class RunConfig:
    """Sizes of one run. ``quick`` shrinks everything for a smoke check."""

    messages: int
    conversations: int
    rounds: int
    single_ops: int
    batches: int
    reads: int
    scan_reads: int
    long_sessions: int
    quick: bool
    seed: int
    workdir: Path
    backends: tuple[str, ...] = ("sqlite", "postgresql")

    @property
    def per_conversation(self) -> int:
        return self.messages // self.conversations

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data["workdir"] = str(self.workdir)
        data["batch_size"] = BATCH_SIZE
        return data


@dataclass
class Result:
    """One measurement: one subject, on one backend, over several rounds."""

    group: str
    backend: str
    ident: str
    subject: str
    metric: str
    higher_is_better: bool
    rounds: list[float] = field(default_factory=list)
    samples: list[float] = field(default_factory=list)
    ops_per_round: int = 0
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.group}/{self.backend}/{self.ident}"

    def values(self) -> list[float]:
        """What the median and spread are taken over: per-op latencies, else per-round rates."""
        return self.samples if self.samples else self.rounds

    @property
    def median(self) -> float:
        return statistics.median(self.values())

    @property
    def p10(self) -> float:
        return percentile(self.values(), 10)

    @property
    def p90(self) -> float:
        return percentile(self.values(), 90)

    def summary(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "group": self.group,
            "backend": self.backend,
            "ident": self.ident,
            "subject": self.subject,
            "metric": self.metric,
            "higher_is_better": self.higher_is_better,
            "median": self.median,
            "p10": self.p10,
            "p90": self.p90,
            "n_rounds": len(self.rounds),
            "n_samples": len(self.samples),
            "ops_per_round": self.ops_per_round,
            "rounds": self.rounds,
            "rounds_range": [min(self.rounds), max(self.rounds)],
            "samples": [round(s, 4) for s in self.samples],
            "note": self.note,
        }


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (the 'inclusive' method)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    pos = (len(ordered) - 1) * pct / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


class Writer(Protocol):
    """Something that appends chat messages; one conversation (session) at a time."""

    label: str
    note: str

    def start_session(self, index: int) -> None: ...

    def append_one(self, text: str) -> None: ...

    def append_batch(self, texts: Sequence[str]) -> None: ...

    def close(self) -> None: ...


class Reader(Protocol):
    """Something that reads one conversation, picked by its index in the loaded data."""

    label: str
    note: str
    keys: Sequence[int]
    expected: int

    def read(self, key: int) -> int: ...


def rate_round(writer: Writer, texts: Sequence[str], *, batch: bool) -> float:
    """Time one round of appends; returns messages per second."""
    started = perf_counter()
    if batch:
        for start in range(0, len(texts), BATCH_SIZE):
            writer.append_batch(texts[start : start + BATCH_SIZE])
    else:
        for text in texts:
            writer.append_one(text)
    return len(texts) / (perf_counter() - started)


def latency_round(reader: Reader, keys: Sequence[int]) -> list[float]:
    """Time each read of one round; returns milliseconds per read."""
    out: list[float] = []
    for key in keys:
        started = perf_counter()
        reader.read(key)
        out.append((perf_counter() - started) * 1000)
    return out


def check_reader(reader: Reader) -> None:
    """Fail loudly if a reader does not return what was loaded (expected 0: any count > 0)."""
    got = reader.read(reader.keys[0])
    if got != reader.expected and not (reader.expected == 0 and got > 0):
        raise RuntimeError(f"{reader.label}: read {got} messages, expected {reader.expected}")


def interleave(
    subjects: Sequence[Any], rounds: int, one_round: Callable[[Any, int], None], label: str
) -> None:
    """Run ``rounds`` rounds, each subject once per round, so drift hits every subject alike."""
    for number in range(rounds):
        order = list(subjects)
        random.Random(number).shuffle(order)
        print(f"  {label}: round {number + 1}/{rounds}", flush=True)
        for subject in order:
            one_round(subject, number)
