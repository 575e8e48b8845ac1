"""Broker settings, read once from ``LABQUEUE_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class BrokerConfig:
    url: str
    heartbeat: int = 30
    delivery_limit: int = 3
    connect_timeout: float = 5.0
    runtimes: tuple[str, ...] = ("python", "matlab")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> BrokerConfig:
        url = env.get("LABQUEUE_BROKER_URL", "").strip()
        if not url:
            raise RuntimeError("LABQUEUE_BROKER_URL is not set (see README.md, 'Configuration')")
        return cls(
            url=url,
            heartbeat=int(env.get("LABQUEUE_BROKER_HEARTBEAT", "30")),
            delivery_limit=int(env.get("LABQUEUE_DELIVERY_LIMIT", "3")),
            runtimes=tuple(r.strip() for r in env.get("LABQUEUE_RUNTIMES", "python,matlab").split(",") if r.strip()),
        )
