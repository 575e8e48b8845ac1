"""The typed settings layer: a value that does not fit names its variable and the expected form, every problem at
once, never a traceback or a silent default; and the README's table is the one the declarations print."""

import re
from pathlib import Path

import pytest
import yaml

from consumer.config import ConsumerConfig, SandboxLimits
from consumer.runtimes import load_runtime
from producer.config import BrokerConfig
from storage.config import JobLimitSettings, StorageConfig
from storage.logsetup import LogSettings
from storage.settings import SettingsError
from storage.settingsdoc import declared_settings, table
from webapp.config import ServerSettings, WebConfig

README = Path(__file__).resolve().parents[2] / "README.md"
WEB = {"LABQUEUE_SECRET_KEY": "a-secret-value"}


def problems(cls, env: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        cls.from_env(env)
    assert caught.value.code != 0 and str(caught.value).startswith("labqueue: bad configuration")
    return caught.value.problems


def test_a_word_where_a_number_belongs_names_the_variable_and_the_form() -> None:
    assert problems(SandboxLimits, {"LABQUEUE_MAX_TIME_LIMIT": "lots"}) == [
        "LABQUEUE_MAX_TIME_LIMIT: expected a whole number of seconds between 1 and 604800, got 'lots'"
    ]


def test_a_number_out_of_range_is_refused_not_clamped() -> None:
    assert problems(JobLimitSettings, {"LABQUEUE_MAX_MEMORY_MIB": "0"}) == [
        "LABQUEUE_MAX_MEMORY_MIB: expected a whole number of MiB between 16 and 1048576, got '0'"
    ]
    assert problems(WebConfig, {**WEB, "LABQUEUE_SESSION_HOURS": "0"}) == [
        "LABQUEUE_SESSION_HOURS: expected a number of hours, more than 0, got '0'"
    ]


def test_a_yes_no_setting_refuses_anything_else() -> None:
    # Before, anything but 1/true/yes/on silently meant "no".
    assert problems(StorageConfig, {"LABQUEUE_S3_ENDPOINT": "s3:8333", "LABQUEUE_S3_ACCESS_KEY": "k", "LABQUEUE_S3_SECRET_KEY": "s", "LABQUEUE_S3_SECURE": "sure"}) == [
        "LABQUEUE_S3_SECURE: expected yes or no (1/0, true/false, yes/no, on/off), got 'sure'"
    ]
    assert WebConfig.from_env({**WEB, "LABQUEUE_REGISTRATION": "on", "LABQUEUE_SECURE_COOKIES": "0"}).registration


def test_an_unknown_choice_lists_the_known_ones() -> None:
    assert problems(SandboxLimits, {"LABQUEUE_CONTAINER_RUNTIME": "kata"}) == [
        "LABQUEUE_CONTAINER_RUNTIME: expected one of runc, runsc, got 'kata'"
    ]
    assert problems(ServerSettings, {"LABQUEUE_WEB_WORKER_CLASS": "sync"}) == [
        "LABQUEUE_WEB_WORKER_CLASS: expected one of gevent, gthread, got 'sync'"
    ]
    assert LogSettings.from_env({"LABQUEUE_LOG_LEVEL": "debug"}).log_level == "DEBUG"


def test_a_bad_rate_fails_at_start_up() -> None:
    assert problems(WebConfig, {**WEB, "LABQUEUE_LOGIN_RATE_PER_ACCOUNT": "5 a minute"}) == [
        "LABQUEUE_LOGIN_RATE_PER_ACCOUNT: expected a rate like '10/minute', several separated by ';' ('10/minute;50/hour'), got '5 a minute'"
    ]


def test_every_problem_is_reported_at_once_and_missing_ones_say_what_they_are() -> None:
    assert problems(BrokerConfig, {"LABQUEUE_DELIVERY_LIMIT": "x", "LABQUEUE_BROKER_HEARTBEAT": "-1"}) == [
        "LABQUEUE_BROKER_URL is not set (`amqp://user:password@host:5672/vhost`)",
        "LABQUEUE_BROKER_HEARTBEAT: expected a whole number of seconds between 0 and 3600, got '-1'",
        "LABQUEUE_DELIVERY_LIMIT: expected a whole number between 1 and 100, got 'x'",
    ]


def test_secrets_stay_out_of_messages_and_reprs() -> None:
    web = WebConfig.from_env({**WEB, "LABQUEUE_METRICS_TOKEN": "token-value"})
    assert "a-secret-value" not in repr(web) and "token-value" not in repr(web)
    assert "pass-word" not in repr(BrokerConfig.from_env({"LABQUEUE_BROKER_URL": "amqp://u:pass-word@h/"}))


def test_empty_means_unset_and_defaults_follow_their_maximum() -> None:
    web = WebConfig.from_env({**WEB, "LABQUEUE_MAX_TIME_LIMIT": "600", "LABQUEUE_MAX_DISK_MIB": "1024", "LABQUEUE_PUBLIC_URL": ""})
    assert (web.default_time_limit, web.default_disk_mib, web.public_url) == (600, 1024, None)
    assert WebConfig.from_env({**WEB, "LABQUEUE_DEFAULT_TIME_LIMIT": "60"}).default_time_limit == 60


def test_the_web_and_the_consumer_read_the_same_job_limits() -> None:
    env = {**WEB, "LABQUEUE_MAX_TIME_LIMIT": "28800", "LABQUEUE_MAX_UPLOAD_MIB": "64", "LABQUEUE_JOB_CPUS": "2"}
    web, consumer = WebConfig.from_env(env), ConsumerConfig.from_env("python", 1, env)
    assert (web.max_time_limit, web.max_upload_bytes) == (consumer.limits.max_time_limit, consumer.limits.max_input_bytes) == (28800, 64 * 2**20)
    assert consumer.limits.cpus == 2.0


def test_runtime_overrides_are_settings_too() -> None:
    runtime = load_runtime("matlab", {"LABQUEUE_RUNTIME_MATLAB_IMAGE": "lab/matlab:r2025b", "LABQUEUE_RUNTIME_MATLAB_COMMAND": "matlab -batch code"})
    assert (runtime.image, runtime.command) == ("lab/matlab:r2025b", ("matlab", "-batch", "code"))


def test_each_variable_is_declared_once() -> None:
    names = [name for name, _field in declared_settings()]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)
    assert {"LABQUEUE_MAX_TIME_LIMIT", "LABQUEUE_BROKER_URL", "LABQUEUE_WEB_WORKERS", "LABQUEUE_RUNTIME_PYTHON_IMAGE"} <= set(names)


def test_readme_configuration_table_is_the_generated_one() -> None:
    text = README.read_text()
    start = text.index("<!-- settings table: python -m storage.settingsdoc -->\n") + len("<!-- settings table: python -m storage.settingsdoc -->\n")
    end = text.index("<!-- end of settings table -->")
    assert text[start:end] == table(), "README.md's configuration table is stale: paste `python -m storage.settingsdoc` in"


def test_compose_passes_settings_through_without_defaults_of_its_own() -> None:
    """An empty value is unset, so compose need not (and must not) repeat a default the settings class holds; the
    broker's copy of LABQUEUE_MAX_TIME_LIMIT is read by RabbitMQ's shell conf, not by labqueue."""
    declared = {name for name, _field in declared_settings()}
    root = README.parent
    for path in (root / "docker-compose.yml", root / "compose" / "worker.yml"):
        services = yaml.safe_load(path.read_text())["services"]
        for service_name, service in services.items():
            environment = service.get("environment") or {}
            for name, value in (environment.items() if isinstance(environment, dict) else ()):
                if name in declared and service_name != "rabbitmq":
                    assert not re.search(r"\$\{" + name + r":-[^}]", str(value)), (path.name, service_name, name, value)
