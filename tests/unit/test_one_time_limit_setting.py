"""One name per setting: the broker's consumer timeout follows LABQUEUE_MAX_TIME_LIMIT, the name the consumer and
web read, wherever labqueue configures the broker."""

import re
from pathlib import Path

from consumer.config import SandboxLimits

ROOT = Path(__file__).resolve().parents[2]
MARGIN_SECONDS = 900


def test_the_broker_script_sizes_the_consumer_timeout_from_the_consumers_setting() -> None:
    script = (ROOT / "scripts" / "rabbitmq.sh").read_text()
    assert "WALL=${LABQUEUE_MAX_TIME_LIMIT:-3600}" in script
    assert f"CONSUMER_TIMEOUT_MS=$(( (WALL + {MARGIN_SECONDS}) * 1000 ))" in script
    assert SandboxLimits.from_env({"LABQUEUE_MAX_TIME_LIMIT": "28800"}).max_time == 28800
    assert re.search(r"\$\{LABQUEUE_MAX_TIME_LIMIT:-(\d+)\}", script).group(1) == str(SandboxLimits.max_time)


def test_compose_default_consumer_timeout_is_the_default_time_limit_plus_the_margin() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    default_ms = int(re.search(r"consumer_timeout \$\{LABQUEUE_RABBITMQ_CONSUMER_TIMEOUT_MS:-(\d+)\}", compose).group(1))
    assert default_ms == (SandboxLimits.max_time + MARGIN_SECONDS) * 1000
    assert "LABQUEUE_MAX_TIME_LIMIT: ${LABQUEUE_MAX_TIME_LIMIT:-3600}" in compose
