"""Prices of model calls, from genai-prices' bundled snapshot (no network access).

Token counts follow the OpenAI convention that parloir stores: ``input_tokens`` includes the
``cached_tokens`` read from the prompt cache, and ``output_tokens`` includes the
``reasoning_tokens``. genai-prices uses the same convention: cache reads are priced at the
cache-read price where the provider has one, reasoning tokens at the reasoning price where the
provider has one (as output otherwise). A model it does not know is not priced: the cost stays
empty. Prices are decimal; the cost is rounded once, half to even, to whole nano-dollars.
"""

from __future__ import annotations

import logging
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from genai_prices import Usage, calc_price

__all__ = ["NANOS_PER_USD", "price_nanos"]

NANOS_PER_USD = Decimal(1_000_000_000)
logger = logging.getLogger(__name__)


def price_nanos(
    *,
    model: str,
    provider: str | None,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int,
    reasoning_tokens: int = 0,
    at: datetime | None = None,
) -> int | None:
    """The cost in nano-dollars, or None when the model (or provider) is unknown."""
    usage = Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=min(cached_tokens, input_tokens),
        output_reasoning_tokens=min(reasoning_tokens, output_tokens),
    )
    try:
        result = calc_price(usage, model, provider_id=provider, genai_request_timestamp=at)
    except LookupError:
        logger.info("no price known for model %r (provider %r): cost left empty", model, provider)
        return None
    total = Decimal(result.total_price) * NANOS_PER_USD
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
