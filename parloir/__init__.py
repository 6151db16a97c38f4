"""parloir: the conversation store and LLM-usage ledger for chatbots."""

from parloir.config import Settings
from parloir.errors import (
    BusyError,
    ConfigError,
    ConflictError,
    FieldError,
    InvalidInputError,
    MissingDependencyError,
    NotFoundError,
    ParloirError,
    SchemaError,
)
from parloir.history import approx_tokens
from parloir.schemas import (
    AgentRead,
    ApiKeyCreated,
    ApiKeyRead,
    AuditEventRead,
    ContactRead,
    ConversationRead,
    FeedbackRead,
    LLMCallRead,
    MessageRead,
    Page,
    PostRead,
    RetrievalRead,
    SearchHit,
    SessionRead,
    TenantRead,
    Totals,
    UserRead,
)
from parloir.store import Store
from parloir.telegram import TelegramResult, TelegramWebhookRead

__version__ = "0.1.0"

__all__ = [
    "AgentRead",
    "ApiKeyCreated",
    "ApiKeyRead",
    "AuditEventRead",
    "BusyError",
    "ConfigError",
    "ConflictError",
    "ContactRead",
    "ConversationRead",
    "FeedbackRead",
    "FieldError",
    "InvalidInputError",
    "LLMCallRead",
    "MessageRead",
    "MissingDependencyError",
    "NotFoundError",
    "Page",
    "ParloirError",
    "PostRead",
    "RetrievalRead",
    "SchemaError",
    "SearchHit",
    "SessionRead",
    "Settings",
    "Store",
    "TelegramResult",
    "TelegramWebhookRead",
    "TenantRead",
    "Totals",
    "UserRead",
    "approx_tokens",
]
