"""Broker settings, read once from ``LABQUEUE_*`` environment variables."""

from __future__ import annotations

from pydantic import field_validator

from storage.runtimes import RUNTIMES
from storage.settings import Settings, Words, setting


class BrokerConfig(Settings):
    url: str = setting(description="`amqp://user:password@host:5672/vhost`", env="LABQUEUE_BROKER_URL", shown="generated", secret=True)
    heartbeat: int = setting(30, "AMQP heartbeat", env="LABQUEUE_BROKER_HEARTBEAT", unit="seconds", ge=0, le=3600)
    delivery_limit: int = setting(3, "deliveries before a job that keeps killing consumers ends `system_error`", ge=1, le=100)
    connect_timeout: float = setting(
        5.0, "how long connecting to the broker may take", env="LABQUEUE_BROKER_CONNECT_TIMEOUT", unit="seconds", gt=0
    )
    runtimes: Words = setting(
        (), "runtimes whose queues exist", shown="every runtime of `storage/runtimes.py`", validate_default=True
    )

    @field_validator("runtimes")
    @classmethod
    def _every_runtime_by_default(cls, runtimes: tuple[str, ...]) -> tuple[str, ...]:
        """Unset means the table's runtimes as they are when the settings are read, not when this class was made."""
        return runtimes or tuple(RUNTIMES)
