"""One name per setting: the broker's consumer timeout follows LABQUEUE_MAX_TIME_LIMIT, the name the consumer and
web read, wherever labqueue configures the broker (scripts/rabbitmq.sh for `make up`, compose/rabbitmq-env.conf
for Compose and Swarm)."""

import re
import subprocess
from pathlib import Path

import yaml

from consumer.config import SandboxLimits

ROOT = Path(__file__).resolve().parents[2]
MARGIN_SECONDS = 900


def test_the_broker_script_sizes_the_consumer_timeout_from_the_consumers_setting() -> None:
    script = (ROOT / "scripts" / "rabbitmq.sh").read_text()
    assert "WALL=${LABQUEUE_MAX_TIME_LIMIT:-3600}" in script
    assert f"CONSUMER_TIMEOUT_MS=$(( (WALL + {MARGIN_SECONDS}) * 1000 ))" in script
    assert SandboxLimits.from_env({"LABQUEUE_MAX_TIME_LIMIT": "28800"}).max_time_limit == 28800
    assert re.search(r"\$\{LABQUEUE_MAX_TIME_LIMIT:-(\d+)\}", script).group(1) == str(SandboxLimits().max_time_limit)


def erl_args_of_compose_broker(max_time_limit: str | None) -> str:
    """What RabbitMQ's start script makes of compose/rabbitmq-env.conf (it sources the file as shell)."""
    env = {"PATH": "/usr/bin:/bin"} | ({"LABQUEUE_MAX_TIME_LIMIT": max_time_limit} if max_time_limit else {})
    conf = ROOT / "compose" / "rabbitmq-env.conf"
    return subprocess.run(
        ["sh", "-c", f'. "{conf}" && printf %s "$SERVER_ADDITIONAL_ERL_ARGS"'], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_compose_sizes_the_consumer_timeout_from_the_same_setting() -> None:
    assert erl_args_of_compose_broker("28800").split()[:3] == ["-rabbit", "consumer_timeout", str((28800 + MARGIN_SECONDS) * 1000)]
    default = str((SandboxLimits().max_time_limit + MARGIN_SECONDS) * 1000)
    assert erl_args_of_compose_broker(None).split()[:3] == ["-rabbit", "consumer_timeout", default]
    assert "-rabbitmq_mqtt allow_anonymous false" in erl_args_of_compose_broker(None)  # devices log in as themselves

    broker = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["rabbitmq"]
    assert broker["environment"]["LABQUEUE_MAX_TIME_LIMIT"] == "${LABQUEUE_MAX_TIME_LIMIT:-3600}"
    assert broker["configs"] == [{"source": "rabbitmq-env", "target": broker["environment"]["RABBITMQ_CONF_ENV_FILE"]}]
    assert "CONSUMER_TIMEOUT" not in (ROOT / "docker-compose.yml").read_text() + (ROOT / "compose" / ".env.example").read_text()
