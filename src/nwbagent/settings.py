"""One settings class for the whole system; every value can come from an ``NWBAGENT_*`` env var.

Defaults serve one person on one machine with nothing else installed.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NWBAGENT_", extra="ignore")

    timezone: str | None = Field(
        default=None,
        description="IANA zone used when neither the files nor the user give a session start time zone "
        "(None: this machine's local zone).",
    )
    detect_max_files: int = Field(
        default=200_000, description="Stop walking a folder after this many files (guards against '/')."
    )
    buffer_gb: float = Field(
        default=0.1,
        description="NeuroConv read buffer per dataset, in GB: bounds memory and sets progress steps.",
    )
    fast_write: bool = Field(
        default=True,
        description="HDF5 output: compress the large datasets in parallel (shuffle + gzip through ISA-L) and "
        "store them with HDF5 direct chunk writes. false: NeuroConv's own single-threaded write. Zarr output "
        "always uses NeuroConv's write.",
    )
    write_threads: int = Field(
        default=0, ge=0, description="Compression threads of the fast write (0: every usable core)"
    )
    write_gzip_level: int = Field(
        default=1, ge=0, le=3, description="Deflate level of the fast write (ISA-L levels 0-3)"
    )

    # Language model. Without a key the system runs fully on the rules provider.
    llm_provider: Literal["auto", "anthropic", "openai", "rules"] = Field(
        default="auto",
        description="auto: anthropic if a key is set, else openai if a base URL/key is set, else rules",
    )
    llm_model: str | None = Field(
        default=None, description="Model id; a sensible per-provider default if unset"
    )
    anthropic_api_key: SecretStr | None = Field(
        default=None, description="Falls back to ANTHROPIC_API_KEY (read by the provider factory)"
    )
    anthropic_base_url: str | None = Field(default=None, description="Override the Messages API endpoint")
    openai_api_key: SecretStr | None = Field(
        default=None, description="Falls back to OPENAI_API_KEY (read by the provider factory)"
    )
    openai_base_url: str | None = Field(
        default=None, description="Any OpenAI-compatible server, e.g. http://localhost:11434/v1 for Ollama"
    )
    llm_timeout_s: float = Field(default=60.0, description="Per-request timeout")
    llm_max_retries: int = Field(default=3, description="Retries for transient errors (429, 5xx, timeouts)")

    # Service.
    host: str = Field(default="127.0.0.1", description="Where `nwbagent serve` listens")
    port: int = Field(default=8000)
    data_dir: str = Field(
        default="nwbagent-data", description="Sessions' uploads and outputs, and the SQLite file"
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/nwbagent.db (postgresql+psycopg://…)",
    )
    data_roots: list[str] = Field(
        default_factory=list, description="Server-side folders a session may use as its source (JSON list)"
    )
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for the admin session listing"
    )
    api_keys: list[str] = Field(
        default_factory=list, description="If set, every API call needs one (X-API-Key)"
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for /metrics (unset: /metrics needs an API key when keys are set)",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Origins besides the service's own whose cookie-authenticated requests and "
        'WebSockets are accepted, e.g. ["https://lab.example.org"] (JSON list)',
    )
    docs_enabled: bool = Field(
        default=False,
        description="Serve the interactive API docs at /docs and /redoc (they load Swagger UI and ReDoc "
        "from a public CDN)",
    )
    session_idle_hours: float = Field(
        default=72.0, description="Idle sessions (and their files) are removed after this"
    )
    max_file_bytes: int = Field(default=20 * 1024**3, description="Largest single uploaded file")
    max_session_bytes: int = Field(default=50 * 1024**3, description="Largest total upload per session")
    max_archive_entries: int = Field(default=10_000, description="Most entries an uploaded archive may hold")
    max_archive_ratio: float = Field(
        default=200.0, description="Largest expanded/compressed size ratio of an archive"
    )
    max_json_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body of any endpoint but uploads"
    )
    max_metadata_value_chars: int = Field(
        default=10_000, ge=100, description="Longest value of one metadata field (NWB fields are short)"
    )
    max_session_document_bytes: int = Field(
        default=4 * 1024**2,
        ge=64 * 1024,
        description="Largest stored record of one session (its history, metadata and results)",
    )
    body_idle_timeout_s: float = Field(
        default=30.0, gt=0, description="A request body that sends nothing for this long is dropped"
    )
    min_free_disk_bytes: int = Field(
        default=512 * 1024**2,
        ge=0,
        description="Health reports degraded when the data dir's disk has less free space than this",
    )
    executor: Literal["local", "dask"] = Field(default="local")
    max_concurrent_conversions: int = Field(
        default=1, description="Local executor: conversions at once; more wait"
    )
    dask_scheduler: str | None = Field(
        default=None, description="tcp://host:8786 of a running Dask scheduler"
    )
    turn_wait_s: float = Field(
        default=5.0,
        description="How long a chat request waits for the agents before answering 202 (then WebSocket)",
    )
    busy_wait_s: float = Field(
        default=10.0,
        ge=0,
        description="How long a request waits for the session's running agent turn to end (e.g. reports "
        "being written after a conversion) before it is refused with 409 session_busy",
    )

    # Observability and limits.
    metrics_enabled: bool = Field(default=True, description="Serve Prometheus metrics at /metrics")
    rate_limits_enabled: bool = Field(
        default=True, description="Per-client request limits (429 when exceeded)"
    )
    rate_limit_storage: str = Field(
        default="memory://",
        description="limits storage URI; redis://127.0.0.1:6379/0 shares limits across instances",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list, description="IPs/CIDRs whose X-Forwarded-For is believed (JSON list)"
    )
    limit_convert: str = Field(default="5/hour;20/day", description="Starting conversions")
    limit_upload: str = Field(default="30/minute;100/day", description="Uploads")
    limit_chat_llm: str = Field(default="30/minute;200/day", description="Chat when an LLM answers")
    limit_chat: str = Field(default="60/minute", description="Chat with the rules provider")
    limit_status: str = Field(default="100/minute", description="Status, results, metadata, validation")
    limit_health: str = Field(default="1000/minute", description="Health")
    max_websockets_per_client: int = Field(
        default=10, description="Concurrent WebSocket connections per client"
    )

    # Workflow.
    max_improve_rounds: int = Field(default=3, description="How many times a user may ask to improve a file")
    work_dir: str = Field(default="nwbagent-work", description="Where sessions keep their outputs")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
