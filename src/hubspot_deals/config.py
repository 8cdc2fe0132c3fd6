"""Every knob of the service, its environment variable and its default (README, "Configuration")."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hubspot_deals.hubspot import LATEST, ClientConfig, Edition, RetryPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the SQLite file and the key file live.")
    database_url: str | None = Field(
        None,
        description="SQLAlchemy async URL (postgresql+asyncpg://user@host/db in the distributed "
        "mode); unset means SQLite at DATA_DIR/hubspot_deals.db.",
    )
    database_pool_size: int = Field(
        10, ge=1, description="PostgreSQL connections kept open per process."
    )
    database_max_overflow: int = Field(
        10, ge=0, description="PostgreSQL connections opened beyond the pool under load."
    )
    redis_url: str | None = Field(
        None,
        description="redis://host:port/db: set, jobs go to `hubspot-deals worker` processes and "
        "every limit is shared through Redis (the distributed mode; needs PostgreSQL).",
    )
    redis_namespace: str = Field(
        "hubspot_deals",
        min_length=1,
        description="Prefix of every Redis key and stream, so deployments can share one Redis.",
    )
    worker_concurrency: int = Field(
        10, ge=1, description="Scans one worker process (or the embedded service) runs at once."
    )
    worker_metrics_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="Port on which each `hubspot-deals worker` serves its own /metrics (its "
        "HubSpot calls); 0 serves none.",
    )
    worker_metrics_host: str = Field(
        "0.0.0.0",  # noqa: S104 - Prometheus scrapes workers from elsewhere; narrow it here
        description="Address the worker's metrics port listens on.",
    )
    scan_lease_seconds: float = Field(
        30.0,
        ge=1,
        description="A running scan whose heartbeat is older than this is resumed by another "
        "worker; heartbeats are sent three times per lease.",
    )
    incremental_overlap_seconds: float = Field(
        300.0,
        ge=0,
        description="An incremental scan reads deals modified since the previous run's mark less "
        "this much: HubSpot's search index lags writes, and clocks differ.",
    )
    token_encryption_key: SecretStr | None = Field(
        None,
        description="Fernet key for HubSpot tokens at rest; unset means DATA_DIR/token.key "
        "(created with mode 0600).",
    )
    require_api_key: bool = Field(
        False, description="Require X-API-Key on /api/v1 even before any key exists."
    )
    api_rate_limit_per_minute: int = Field(
        1000, ge=1, description="Requests a minute per client (API key, else IP address)."
    )
    max_concurrent_scans_per_org: int = Field(
        10,
        ge=1,
        description="Scans running at once per organization; more wait as pending, in order.",
    )
    results_mb_per_minute_per_org: float = Field(
        100.0, gt=0, description="Megabytes of results pages an organization may download a minute."
    )
    quota_window_seconds: int = Field(
        60,
        ge=1,
        le=3600,
        description="Length of the service's own limit windows: API_RATE_LIMIT_PER_MINUTE and "
        "RESULTS_MB_PER_MINUTE_PER_ORG are spent per window of this length (tests shorten it).",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR.")
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="auto: JSON unless standard error is a terminal."
    )

    hubspot_base_url: str = Field(
        "https://api.hubapi.com",
        description="Where HubSpot's API lives (the sandbox's URL in demos).",
    )
    hubspot_api_version: Edition = Field(
        LATEST,
        description="Which of HubSpot's API editions the client calls: 2026-09 (the latest, "
        "/crm/objects/2026-09/deals), 2026-03, or legacy (/crm/v3 and /crm/v4, unsupported from "
        "September 2027).",
    )
    hubspot_client_id: str | None = Field(
        None,
        description="Your HubSpot OAuth app's client id: with the secret and redirect URI, the "
        "dashboard's Connect HubSpot button connects portals (the authorization code flow).",
    )
    hubspot_client_secret: SecretStr | None = Field(None, description="That app's client secret.")
    hubspot_redirect_uri: str | None = Field(
        None,
        description="Where HubSpot sends the browser back: this service's /connect/callback, as "
        "registered in the app (https://deals.example.com/connect/callback).",
    )
    hubspot_oauth_scopes: str = Field(
        "crm.objects.deals.read crm.objects.contacts.read crm.objects.companies.read "
        "crm.objects.line_items.read crm.objects.owners.read",
        description="The scopes Connect HubSpot asks for, space-separated.",
    )
    hubspot_authorize_url: str = Field(
        "https://app.hubspot.com/oauth/authorize",
        description="HubSpot's authorization page (the sandbox's in demos).",
    )
    hubspot_timeout_seconds: float = Field(30.0, gt=0, description="Timeout of one HubSpot call.")
    hubspot_max_connections: int = Field(100, ge=1, description="Connection pool size per client.")
    hubspot_burst_limit: int = Field(
        100,
        ge=1,
        description="Requests per 10 s assumed until HubSpot's rate-limit headers tell the real one "
        "(100 is the lowest published tier).",
    )
    hubspot_search_rate: int = Field(
        5,
        ge=1,
        description="Search requests per second (search replies carry no rate-limit headers).",
    )
    hubspot_retry_attempts: int = Field(
        8, ge=1, description="Attempts per HubSpot call, first included."
    )
    hubspot_retry_wait_initial: float = Field(0.5, ge=0, description="First backoff, seconds.")
    hubspot_retry_wait_max: float = Field(
        30.0, ge=0, description="Longest single backoff, seconds."
    )
    hubspot_retry_wait_jitter: float = Field(1.0, ge=0, description="Random jitter added, seconds.")
    start_token_check_seconds: float = Field(
        3.0,
        ge=0,
        description="How long a start waits for HubSpot to judge the token (401 or 403 before "
        "any job exists); past it the scan is accepted unchecked. 0 turns the check off.",
    )
    hubspot_retry_timeout: float = Field(
        600.0, gt=0, description="Give up retrying one call after this many seconds."
    )
    schedule_min_interval_seconds: int = Field(
        60,
        ge=1,
        description="The shortest interval a schedule may have (tests lower it to a second).",
    )
    scheduler_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often each process looks for schedules that are due (a due time is "
        "claimed once, whatever the processes: this only bounds how late it starts).",
    )
    webhook_allow_private_urls: bool = Field(
        False,
        description="Let webhooks reach loopback, private, link-local and other non-public "
        "addresses (receivers on your own network); refused by default, at registration and "
        "at every attempt.",
    )
    webhook_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often each delivery loop looks for ended runs and due deliveries.",
    )
    webhook_retry_seconds: float = Field(
        30.0, gt=0, description="Wait before a failed delivery's second attempt; doubled each time."
    )
    webhook_retry_max_seconds: float = Field(
        3600.0, gt=0, description="Longest wait between two attempts of a delivery."
    )
    webhook_give_up_seconds: float = Field(
        86400.0,
        gt=0,
        description="A delivery not made within this long after its event is given up (failed).",
    )
    webhook_timeout_seconds: float = Field(
        10.0, gt=0, description="How long one attempt waits for the receiver's answer."
    )

    def hubspot_client(self) -> ClientConfig:
        """The HubSpot client's configuration (the client itself reads no settings)."""
        return ClientConfig(
            base_url=self.hubspot_base_url,
            api_version=self.hubspot_api_version,
            timeout_seconds=self.hubspot_timeout_seconds,
            max_connections=self.hubspot_max_connections,
            burst_limit=self.hubspot_burst_limit,
            search_rate=self.hubspot_search_rate,
            retry=RetryPolicy(
                self.hubspot_retry_attempts,
                self.hubspot_retry_wait_initial,
                self.hubspot_retry_wait_max,
                self.hubspot_retry_wait_jitter,
                self.hubspot_retry_timeout,
            ),
        )

    @property
    def oauth_app_configured(self) -> bool:
        return bool(
            self.hubspot_client_id and self.hubspot_client_secret and self.hubspot_redirect_uri
        )

    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'hubspot_deals.db'}"

    @property
    def distributed(self) -> bool:
        """Jobs through Redis to worker processes; otherwise they run inside the service."""
        return self.redis_url is not None

    @field_validator("token_encryption_key")
    @classmethod
    def _fernet_keys(cls, key: SecretStr | None) -> SecretStr | None:
        """Fernet keys, comma-separated: refused here, by name, rather than as a traceback."""
        if key is None:
            return None
        keys = [k.strip() for k in key.get_secret_value().split(",") if k.strip()]
        if not keys:
            raise ValueError(
                "TOKEN_ENCRYPTION_KEY is set but empty: give one or more Fernet keys "
                "(comma-separated), or unset it to use DATA_DIR/token.key"
            )
        for n, k in enumerate(keys, 1):
            try:
                Fernet(k.encode())
            except ValueError:
                raise ValueError(
                    f"TOKEN_ENCRYPTION_KEY: key {n} is not a Fernet key (32 url-safe base64 "
                    "bytes, as Fernet.generate_key() makes)"
                ) from None
        return key

    @model_validator(mode="after")
    def _distributed_needs_shared_state(self) -> Settings:
        if self.distributed:
            if not self.sqlalchemy_url().startswith("postgresql"):
                raise ValueError(
                    "REDIS_URL (the distributed mode) needs DATABASE_URL to name PostgreSQL "
                    "(postgresql+asyncpg://...): workers on other machines cannot share SQLite"
                )
            if self.token_encryption_key is None:
                raise ValueError(
                    "REDIS_URL (the distributed mode) needs TOKEN_ENCRYPTION_KEY: every API "
                    "replica and worker must hold the same key"
                )
        return self
