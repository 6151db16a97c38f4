"""Realistic, deterministic demonstration data.

The same ``seed`` and ``conversations`` give the same tenants, agents, contacts, texts,
counts, tokens and costs; only ids and the anchor date (today) differ between runs. Everything
is written through the public :class:`~parloir.store.Store` API, as a bot would.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from parloir.errors import ConflictError
from parloir.schemas import AgentRead, ConversationRead, MessageRead
from parloir.store import Store

__all__ = ["DemoSummary", "fill_demo"]

Progress = Callable[[int], None]


@dataclass(frozen=True)
class _AgentSpec:
    name: str
    channel: str
    provider: str
    model: str
    instructions: str


TENANTS: dict[str, tuple[str, list[_AgentSpec]]] = {
    "acme": (
        "Acme Support",
        [
            _AgentSpec(
                "Ganopa",
                "telegram",
                "openai",
                "gpt-4o-mini",
                "You are Ganopa, Acme's support bot. Answer briefly and politely.",
            ),
            _AgentSpec(
                "Site widget",
                "web",
                "mistral",
                "mistral-small-latest",
                "You answer visitors of acme.example about orders and delivery.",
            ),
        ],
    ),
    "polytech": (
        "Polytech Assistant",
        [
            _AgentSpec(
                "RAG assistant",
                "api",
                "openai",
                "gpt-4o",
                "Answer students' questions using only the retrieved documents.",
            ),
            _AgentSpec(
                "LinkedIn writer",
                "linkedin",
                "anthropic",
                "claude-3-5-haiku-latest",
                "You reply to LinkedIn messages and draft posts for the lab.",
            ),
        ],
    ),
}

NAMES = [
    "Alice Martin",
    "Bruno Costa",
    "Chloé Dubois",
    "Dmitri Ivanov",
    "Élodie Roux",
    "Fatima Zahra",
    "محمد علي",
    "Grace Hopper",
    "Hiro Tanaka",
    "Inès Petit",
    "Jonas Berg",
    "Kwame Mensah",
    "Léa Moreau 🌸",
    "Mateo García",
    "Nadia Haddad",
    "Olga Petrova",
]
QUESTIONS = [
    "Where is my order?",
    "How do I reset my password?",
    "Can I change my delivery address?",
    "What are your opening hours?",
    "Do you ship to Belgium?",
    "I was charged twice 😡",
    "Which documents do I need for enrolment?",
    "When is the exam period?",
    "Peux-tu m'aider avec ma facture ?",
    "¿Tienen soporte en español?",
    "Thanks a lot! 🙏",
    "Can you summarise the internship rules?",
    "How long does a refund take?",
]
ANSWERS = [
    "Your order left our warehouse yesterday and should arrive within two days.",
    "Use the 'Forgot password' link on the login page; the email arrives in a minute.",
    "Yes: open your account, choose the order and edit the address before shipping.",
    "We are open Monday to Friday, 9:00 to 18:00 (CET).",
    "Bien sûr, je regarde ça.",
    "According to the regulations (section 4.2), you need your ID and last diploma.",
    "Refunds take 5 to 7 working days after we receive the parcel.",
    "You're welcome!",
]
COMMANDS = ["/start", "/help", "/reset@GanopaBot", "/lang fr"]
SOURCES = ["handbook.pdf#p12", "faq.md", "regulations-2026.pdf#s4.2", "shipping-policy.html"]


@dataclass
class DemoSummary:
    """What :func:`fill_demo` wrote."""

    tenants: int = 0
    agents: int = 0
    conversations: int = 0
    messages: int = 0
    llm_calls: int = 0


def fill_demo(
    store: Store, *, conversations: int = 40, seed: int = 7, progress: Progress | None = None
) -> DemoSummary:
    """Fill ``store``'s database with demo tenants, agents and ``conversations`` conversations."""
    rng = random.Random(seed)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    summary = DemoSummary()
    plans: list[tuple[Store, AgentRead]] = []
    for slug, (name, specs) in TENANTS.items():
        if store.find_tenant(slug) is not None:
            raise ConflictError(f"demo tenant {slug!r} already exists: use an empty database")
        tenant = store.create_tenant(name=name, slug=slug)
        view = store.for_tenant(tenant.id)
        summary.tenants += 1
        view.create_user(username=f"owner@{slug}.example", role="owner")
        view.create_user(username=f"viewer@{slug}.example", role="viewer")
        for spec in specs:
            agent = view.create_agent(
                name=spec.name,
                role="assistant",
                instructions=spec.instructions,
                provider=spec.provider,
                model=spec.model,
                temperature=0.3,
                max_tokens=512,
                top_p=1.0,
                metadata={"channel": spec.channel},
            )
            plans.append((view, agent))
            summary.agents += 1
    for number in range(conversations):
        view, agent = plans[number % len(plans)]
        started = today - timedelta(days=rng.randint(0, 29), minutes=rng.randint(0, 1439))
        _conversation(view, agent, number, started, rng, summary)
        if progress:
            progress(1)
    for view, agent in plans:
        _extras(view, agent, today, rng, summary)
    return summary


def _conversation(
    store: Store,
    agent: AgentRead,
    number: int,
    start: datetime,
    rng: random.Random,
    summary: DemoSummary,
) -> None:
    channel = str(agent.metadata["channel"])
    person = rng.choice(NAMES)
    contact = store.upsert_contact(
        channel=channel,
        external_id=f"{channel}-{number:05d}",
        name=person,
        username=person.split()[0].lower(),
        metadata={"language": rng.choice(["en", "fr", "es"])},
    )
    conv = store.get_or_create_conversation(
        agent_id=agent.id,
        channel=channel,
        external_id=f"{channel}-chat-{number:05d}",
        contact_id=contact.id,
        title=None,
        created_at=start,
        metadata={"source": "demo", "user_agent": "Mozilla/5.0"} if channel == "web" else {},
    )
    summary.conversations += 1
    at = start
    for turn in range(rng.randint(1, 12)):
        at += timedelta(seconds=rng.randint(20, 600))
        text = (
            rng.choice(COMMANDS) if turn == 0 and channel == "telegram" else rng.choice(QUESTIONS)
        )
        question = store.append_message(
            conv.id,
            role="user",
            content=text,
            created_at=at,
            idempotency_key=f"demo-{number}-{turn}",
            external_id=f"m{number}-{turn}-in",
        )
        at += timedelta(milliseconds=rng.randint(400, 6000))
        _answer(store, agent, conv, question, at, rng, summary)
        summary.messages += 2
    if rng.random() < 0.15:
        store.update_conversation(conv.id, status=rng.choice(["archived", "blocked"]))


def _answer(
    store: Store,
    agent: AgentRead,
    conv: ConversationRead,
    question: MessageRead,
    at: datetime,
    rng: random.Random,
    summary: DemoSummary,
) -> None:
    failed = rng.random() < 0.06
    latency = rng.randint(300, 5000)
    tokens_in, tokens_out = rng.randint(80, 2400), rng.randint(10, 400)
    extra: dict[str, Any] = {}
    if failed:
        extra = {"error_type": "timeout", "error_message": "the model did not answer in 30 s"}
    answer = store.append_message(
        conv.id,
        role="assistant",
        created_at=at,
        response_time_ms=latency,
        content="Sorry, I could not answer right now." if failed else rng.choice(ANSWERS),
        token_count=tokens_in + tokens_out,
        **extra,
    )
    call = store.record_llm_call(
        model=agent.model or "gpt-4o-mini",
        provider=agent.provider,
        operation="chat",
        message_id=answer.id,
        input_tokens=tokens_in,
        output_tokens=0 if failed else tokens_out,
        cached_tokens=rng.choice([0, 0, tokens_in // 2]),
        latency_ms=latency,
        created_at=at,
        is_success=not failed,
        prompt=[{"role": "user", "content": question.content}],
        response=None if failed else answer.content,
        **extra,
    )
    summary.llm_calls += 1
    if agent.name == "RAG assistant" and not failed:
        for rank, source in enumerate(rng.sample(SOURCES, 2)):
            store.record_retrieval(
                llm_call_id=call.id,
                source=source,
                rank=rank,
                score=round(rng.uniform(0.55, 0.95), 3),
                content_preview=f"Excerpt from {source} …",
            )
        store.record_llm_call(
            model="text-embedding-3-small",
            provider="openai",
            operation="embedding",
            message_id=question.id,
            input_tokens=rng.randint(8, 40),
            latency_ms=rng.randint(40, 200),
            created_at=at,
        )
        summary.llm_calls += 1
    if rng.random() < 0.2:
        store.add_feedback(
            answer.id,
            rating=rng.choice([-1, 1, 1, 4, 5]),
            comment=rng.choice([None, "Helpful", "Not what I asked"]),
            contact_id=conv.contact_id,
        )


def _extras(
    store: Store, agent: AgentRead, today: datetime, rng: random.Random, summary: DemoSummary
) -> None:
    channel = str(agent.metadata["channel"])
    for index in range(3):
        expires = today + timedelta(days=rng.choice([-2, 1, 7]))
        store.set_session(
            f"{channel}-session-{agent.id.hex[:6]}-{index}",
            {"last_intent": rng.choice(["order", "refund", "hours"]), "turns": index},
            expires_at=expires,
        )
    for kind in ("webhook_received", "openai_called", "user_login"):
        store.record_audit_event(
            event_type=kind,
            actor=f"agent:{agent.id}",
            correlation_id=uuid.UUID(int=rng.getrandbits(128)).hex[:16],
            subject_type="agent",
            subject_id=str(agent.id),
            metadata={"channel": channel},
        )
    if channel == "linkedin":
        summary.llm_calls += _posts(store, agent, today, rng)


def _posts(store: Store, agent: AgentRead, today: datetime, rng: random.Random) -> int:
    topics = ["Our lab at the robotics fair", "Internship offers 2027", "Thesis defence: AI"]
    for index, topic in enumerate(topics):
        post = store.create_post(
            content=f"{topic} — join us! #research",
            channel="linkedin",
            agent_id=agent.id,
            scheduled_for=today + timedelta(days=index - 1),
        )
        store.record_llm_call(
            model=agent.model or "gpt-4o-mini",
            provider=agent.provider,
            operation="draft_post",
            post_id=post.id,
            input_tokens=rng.randint(200, 600),
            output_tokens=rng.randint(80, 300),
            latency_ms=rng.randint(800, 3000),
        )
        if index == 0:
            store.mark_post_published(
                post.id, external_id=f"urn:li:share:{rng.randint(10**9, 10**10)}"
            )
        elif index == 1:
            store.mark_post_failed(post.id, "LinkedIn API answered 429: rate limited")
    store.create_post(
        content="Draft: what we learnt this term", channel="linkedin", agent_id=agent.id
    )
    return len(topics)
