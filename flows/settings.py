"""One Settings object read from the environment, with local defaults."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    home: Path  # state dir: warehouse, archive, Prefect home, GX project
    out_dir: Path
    parse_workers: int
    parse_timeout_s: float
    parse_memory_mb: int

    @property
    def warehouse_path(self) -> Path:
        return self.home / "warehouse.duckdb"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def prefect_home(self) -> Path:
        return self.home / "prefect"

    @property
    def gx_dir(self) -> Path:
        return self.home / "gx"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        """Read JIXIAO_* variables; relative paths resolve against the working directory."""
        e = os.environ if env is None else env
        return cls(
            home=Path(e.get("JIXIAO_HOME", "./var")).resolve(),
            out_dir=Path(e.get("JIXIAO_OUT", "./out")).resolve(),
            parse_workers=int(e.get("JIXIAO_PARSE_WORKERS", "2")),
            parse_timeout_s=float(e.get("JIXIAO_PARSE_TIMEOUT", "20")),
            parse_memory_mb=int(e.get("JIXIAO_PARSE_MEMORY_MB", "768")),
        )


def configure_runtime_env(settings: Settings) -> None:
    """Set Prefect/GX env before either is imported: offline, quiet, state inside JIXIAO_HOME."""
    settings.home.mkdir(parents=True, exist_ok=True)
    # Prefect's state always lives inside JIXIAO_HOME, and nothing phones home
    os.environ["PREFECT_HOME"] = str(settings.prefect_home)
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    defaults = {
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_LOGGING_LEVEL": "CRITICAL",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "false",
    }
    for k, v in defaults.items():
        os.environ.setdefault(k, v)
