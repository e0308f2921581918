"""What a generation may cost and what it did cost: tier limits before the call, tokens and cost after.

    tier = check_limits(user_id, Resource.PLOT)            # before any model call; SubscriptionLimitError
    ... generate (no transaction open) ...
    with unit_of_work(user_id) as session:
        save the artefact ...
        record_usage(session, user_id=..., resource=Resource.PLOT, usage=usage, engine="llm",
                     book_id=..., resource_id=artefact.id, idempotency_key=f"plot:{job_id}")
    # on failure: record_failure(user_id, resource=..., usage=..., engine=..., error_kind=...)

`record_usage` writes usage_logs and generation_analytics in the caller's transaction (the artefact's), and a
second call with the same idempotency key raises AlreadyCharged, so a retried job never charges twice.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from core.config import Settings, Tier, get_settings
from core.errors import PlotStudioError, SubscriptionLimitError
from db.engine import unit_of_work
from db.models import GenerationAnalytics, UsageLog, User


class Resource(str, enum.Enum):
    """What a tier's monthly limits count."""

    PLOT = "plot"
    CHARACTER = "character"
    SCRIPT = "script"
    PORTRAIT = "portrait"


class AlreadyCharged(PlotStudioError):
    """This generation (idempotency key) was charged already: the caller keeps what it saved then."""


def cost_of(model: str | None, tokens_in: int, tokens_out: int, settings: Settings | None = None) -> Decimal:
    """USD for the tokens at the model's price in Settings (a model not listed costs 0)."""
    price_in, price_out = (settings or get_settings()).llm_prices.get(model or "", (0.0, 0.0))
    cost = (Decimal(str(price_in)) * tokens_in + Decimal(str(price_out)) * tokens_out) / Decimal(1_000_000)
    return cost.quantize(Decimal("0.000001"))


@dataclass
class Usage:
    """Tokens, cost and calls of one generation, summed over every model call it made (repairs included)."""

    model: str | None = None
    tier: str | None = None
    method: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    calls: int = 0
    cache_hits: int = 0
    duration_ms: int = 0
    methods: list[str] = field(default_factory=list)

    @property
    def cost_usd(self) -> Decimal:
        return cost_of(self.model, self.tokens_in, self.tokens_out)

    def add(self, other: "Usage") -> "Usage":
        self.model = self.model or other.model
        self.tier = self.tier or other.tier
        self.method = other.method or self.method
        self.tokens_in += other.tokens_in
        self.tokens_out += other.tokens_out
        self.calls += other.calls
        self.cache_hits += other.cache_hits
        self.duration_ms += other.duration_ms
        self.methods += [m for m in other.methods if m not in self.methods]
        return self

    def as_dict(self) -> dict:
        return {"model": self.model, "tier": self.tier, "structured_output": self.method, "tokens_in": self.tokens_in,
                "tokens_out": self.tokens_out, "cost_usd": float(self.cost_usd), "calls": self.calls,
                "cache_hits": self.cache_hits, "duration_ms": self.duration_ms}


def tier_of(session: Session, user_id: uuid.UUID) -> Tier:
    return Tier(session.scalar(select(User.tier).where(User.id == user_id)) or Tier.FREE.value)


def _month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(now: datetime) -> datetime:
    start = _month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def check_limits(user_id: uuid.UUID, resource: Resource, *, settings: Settings | None = None) -> Tier:
    """The writer's tier, if it allows one more model generation of this resource now; else SubscriptionLimitError."""
    settings = settings or get_settings()
    now = datetime.now(timezone.utc)
    with unit_of_work(user_id) as session:
        tier = tier_of(session, user_id)
        charged = select(func.count()).select_from(UsageLog).where(
            UsageLog.user_id == user_id, UsageLog.model_used.is_not(None))
        limit = settings.tier_monthly_limits.get(tier.value, {}).get(resource.value)
        if limit is not None:
            used = session.scalar(charged.where(UsageLog.action == resource.value,
                                                UsageLog.created_at >= _month_start(now)))
            if used >= limit:
                resets = _next_month(now)
                raise SubscriptionLimitError(
                    f"Your {tier.value} plan allows {limit} {resource.value} generation{'s' * (limit != 1)} a month "
                    f"and you have made {used}; it resets on {resets:%d %B %Y} (or choose the offline engine).")
        if tier is Tier.FREE:
            hourly = settings.plot_generation_rate_limit
            oldest_counted = now - timedelta(hours=1)
            recent = session.scalars(select(UsageLog.created_at).where(
                UsageLog.user_id == user_id, UsageLog.model_used.is_not(None),
                UsageLog.created_at >= oldest_counted).order_by(UsageLog.created_at)).all()
            if len(recent) >= hourly:
                resets = recent[0] + timedelta(hours=1)
                raise SubscriptionLimitError(
                    f"The FREE plan allows {hourly} model generations an hour and you have made {len(recent)}; "
                    f"the next one is possible at {resets:%H:%M} UTC.")
    return tier


def charged_resource(session: Session, idempotency_key: str) -> uuid.UUID | None:
    """The artefact an earlier run of this generation saved and was charged for, if any."""
    row = session.execute(select(UsageLog.id, UsageLog.resource_id)
                          .where(UsageLog.idempotency_key == idempotency_key)).first()
    return row.resource_id if row else None


def record_usage(session: Session, *, user_id: uuid.UUID, resource: Resource, usage: Usage, engine: str,
                 book_id: uuid.UUID | None, resource_id: uuid.UUID | None, idempotency_key: str) -> None:
    """Charge one generation and log it for analytics, in the caller's (the artefact's) transaction."""
    tier = usage.tier or tier_of(session, user_id).value
    inserted = session.execute(insert(UsageLog).values(
        user_id=user_id, action=resource.value, book_id=book_id, resource_id=resource_id,
        idempotency_key=idempotency_key, tier=tier, model_used=usage.model if engine == "llm" else None,
        tokens_in=usage.tokens_in, tokens_out=usage.tokens_out, cost_usd=usage.cost_usd,
    ).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(UsageLog.id)).first()
    if inserted is None:
        raise AlreadyCharged("This generation was already saved and charged.")
    session.add(_analytics(user_id, resource, usage, engine, book_id, tier, success=True, error_kind=None))
    session.flush()


def record_failure(user_id: uuid.UUID, *, resource: Resource, usage: Usage, engine: str,
                   book_id: uuid.UUID | None, error_kind: str) -> None:
    """Log a failed generation for analytics (nothing is charged, nothing else is saved)."""
    with unit_of_work(user_id) as session:
        tier = usage.tier or tier_of(session, user_id).value
        session.add(_analytics(user_id, resource, usage, engine, book_id, tier, success=False, error_kind=error_kind))


def _analytics(user_id, resource, usage, engine, book_id, tier, *, success, error_kind) -> GenerationAnalytics:
    return GenerationAnalytics(
        user_id=user_id, book_id=book_id, artefact=resource.value, engine=engine,
        model_used=usage.model if engine == "llm" else None, tier=tier, tokens_in=usage.tokens_in,
        tokens_out=usage.tokens_out, cost_usd=usage.cost_usd, duration_ms=usage.duration_ms, success=success,
        error_kind=(error_kind or "")[:100] or None)
