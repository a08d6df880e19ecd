"""Run the app under Hypercorn: one process, or N workers sharing the data directory."""

from __future__ import annotations

import os

from hypercorn.config import Config
from hypercorn.run import run

from smarts3.app import SETTINGS_ENV
from smarts3.config.settings import Settings


def hypercorn_config(settings: Settings) -> Config:
    config = Config()
    config.bind = [f"{settings.host}:{settings.port}"]
    # Each worker builds its own app from the settings handed over in the environment.
    config.application_path = "smarts3.app:app_from_env()"
    # workers=0 serves in this process; hypercorn spawns processes otherwise.
    config.workers = 0 if settings.workers == 1 else settings.workers
    config.worker_class = "uvloop"  # libuv's event loop: markedly cheaper per request than asyncio's
    config.accesslog = None
    config.errorlog = "-"
    config.keep_alive_timeout = 75
    config.graceful_timeout = 25
    if settings.tls_cert_file and settings.tls_key_file:
        config.certfile = str(settings.tls_cert_file)
        config.keyfile = str(settings.tls_key_file)
    return config


def serve(settings: Settings) -> int:
    os.environ[SETTINGS_ENV] = settings.model_dump_json(
        exclude={"access_key", "secret_key"}
    )
    return run(hypercorn_config(settings))
