"""Deterministic chat-like message texts, made locally (nothing is downloaded)."""

from __future__ import annotations

import random
from functools import lru_cache

_VOCABULARY = (
    "the a to and of in is it you that for on with this be are have can not will do your at"
    " what how we my me so but if about just there please thanks order account help need want"
    " know time day price ship delivery refund question answer problem issue update status"
    " message reply today tomorrow week support product service email phone number address"
    " payment card invoice plan upgrade cancel change password login error works working"
    " again still sure great fine okay right wrong maybe could would should when where which"
    " who why because after before here now then also more less very really much many some"
)
_WORDS = tuple(_VOCABULARY.split())

POOL_SIZE = 8_192


@lru_cache(maxsize=4)
def _pool(seed: int) -> tuple[str, ...]:
    rng = random.Random(seed)
    texts = []
    for _ in range(POOL_SIZE):
        # Mostly short chat turns, with a tail of long answers (about 20-1,800 characters).
        words = int(min(300, rng.lognormvariate(3.6, 0.8))) + 3
        sentence = " ".join(rng.choice(_WORDS) for _ in range(words))
        texts.append(sentence[0].upper() + sentence[1:] + rng.choice(".?!"))
    return tuple(texts)


def text(conversation: int, seq: int, seed: int = 7) -> str:
    """The text of message ``seq`` of conversation ``conversation`` (same for every subject)."""
    pool = _pool(seed)
    return pool[(conversation * 7_919 + seq * 104_729) % POOL_SIZE]


def texts(count: int, offset: int = 0, seed: int = 11) -> list[str]:
    """``count`` texts for append benchmarks."""
    pool = _pool(seed)
    return [pool[(offset + i) % POOL_SIZE] for i in range(count)]


def mean_length(seed: int = 7) -> float:
    pool = _pool(seed)
    return sum(len(t) for t in pool) / len(pool)
