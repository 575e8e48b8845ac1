"""The container spec every job runs under: no network, no root, read-only root, no capabilities, bounded resources."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from docker.types import LogConfig

from consumer.config import MIB, SandboxLimits

JOB_USER = "1000:1000"
WORKDIR = "/job"
OUTPUT_PATH = f"{WORKDIR}/output"
# The project arrives on stdin (consumer/job_files.py): tar, as the job user so that all it writes is the job's, unpacks
# it, then the job runs with an empty stdin, as it would without one. Any image with sh and tar can be a runtime's.
UNPACK_THEN_RUN = ("sh", "-c", f'tar -x -f - -C {WORKDIR} && exec "$@" </dev/null', "labqueue-unpack")
DATA_DIR = "/data"
# An environment build's volume is mounted at BUILD_MOUNT, with the requirements to install; the build installs into
# ENV_DIR below it, a folder the job user owns (a fresh volume's root is root's), and the environment image has the
# installed tree at the same path.
BUILD_MOUNT = "/opt/labqueue"
ENV_DIR = f"{BUILD_MOUNT}/env"
BUILD_REQUIREMENTS = f"{BUILD_MOUNT}/requirements.txt"
LABEL_JOB = "labqueue.job"
LABEL_CONSUMER = "labqueue.consumer"


@dataclass(frozen=True)
class JobLimits:
    """The limits one job runs with: what it asked for, capped by the admin's maximums."""

    time_limit: int
    memory_mib: int
    disk_mib: int

    @classmethod
    def clamp(cls, time_limit: int, memory_mib: int, disk_mib: int | None, limits: SandboxLimits) -> JobLimits:
        return cls(
            time_limit=max(1, min(time_limit, limits.max_time_limit)),
            memory_mib=max(16, min(memory_mib, limits.max_memory_mib)),
            disk_mib=max(16, min(limits.default_disk_mib if disk_mib is None else disk_mib, limits.max_disk_mib)),
        )


def volume_name(job_id: str, attempt: int) -> str:
    """Per attempt: a dead earlier attempt's leftovers on the same Docker host never block the next one."""
    return f"labqueue-job-{job_id}-{attempt}"


def container_name(job_id: str, attempt: int) -> str:
    return f"labqueue-job-{job_id}-{attempt}"


def build_volume_name(job_id: str, attempt: int) -> str:
    return f"labqueue-build-{job_id}-{attempt}"


def build_container_name(job_id: str, attempt: int) -> str:
    return f"labqueue-build-{job_id}-{attempt}"


def labels(job_id: str, consumer: str) -> dict[str, str]:
    return {LABEL_JOB: job_id, LABEL_CONSUMER: consumer}


def container_spec(
    *,
    job_id: str,
    attempt: int,
    consumer: str,
    image: str,
    command: tuple[str, ...],
    job: JobLimits,
    limits: SandboxLimits,
    datasets: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create``; ``datasets`` maps each dataset's name to its volume,
    mounted read-only at /data/<name>/."""
    mounts = {volume_name(job_id, attempt): {"bind": WORKDIR, "mode": "rw"}}
    mounts |= {volume: {"bind": f"{DATA_DIR}/{name}", "mode": "ro"} for name, volume in (datasets or {}).items()}
    return {
        **_confined(job, limits),
        "image": image,
        "command": [*UNPACK_THEN_RUN, *command],
        "stdin_open": True,  # the project arrives on stdin; with "detach" unset, docker-py also sets StdinOnce
        "name": container_name(job_id, attempt),
        "working_dir": WORKDIR,
        "environment": {
            "LABQUEUE_JOB_ID": job_id,
            "LABQUEUE_DATASETS": "/data",
            "HOME": "/tmp",
            "MPLBACKEND": "Agg",
            "PYTHONUNBUFFERED": "1",
            # BLAS and OpenMP start a thread per host core unless told the job's CPU share.
            "OPENBLAS_NUM_THREADS": str(max(1, int(limits.cpus))),
            "OMP_NUM_THREADS": str(max(1, int(limits.cpus))),
        },
        "network_mode": "none",
        "volumes": mounts,
        "labels": labels(job_id, consumer),
    }


def build_container_spec(
    *,
    job_id: str,
    attempt: int,
    consumer: str,
    image: str,
    command: tuple[str, ...],
    environment: Mapping[str, str],
    network: str,
    job: JobLimits,
    limits: SandboxLimits,
) -> dict[str, Any]:
    """Keyword arguments for ``client.containers.create`` of a job's environment build: the job's own sandbox, with
    its build volume at BUILD_MOUNT as the one writable place besides /tmp, on ``network`` (internal: its only way
    out is the proxy to the package index) instead of none."""
    return {
        **_confined(job, limits),
        "image": image,
        "command": list(command),
        "name": build_container_name(job_id, attempt),
        "working_dir": "/tmp",
        "environment": dict(environment),
        "network": network,
        "volumes": {build_volume_name(job_id, attempt): {"bind": BUILD_MOUNT, "mode": "rw"}},
        "labels": labels(job_id, consumer),
    }


def _confined(job: JobLimits, limits: SandboxLimits) -> dict[str, Any]:
    """What every container of a job runs under, its build as much as its code: no root, no capabilities, no new
    privileges, a read-only root with a bounded /tmp, the job's memory (no extra swap), CPU and pids."""
    memory = job.memory_mib * MIB
    return {
        "user": JOB_USER,
        "read_only": True,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={limits.tmp_mib}m,mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": limits.pids,
        "mem_limit": memory,
        "memswap_limit": memory,
        "nano_cpus": int(limits.cpus * 1e9),
        "ipc_mode": "private",
        "runtime": limits.container_runtime,
        # Docker's own copy of the log is bounded too; what we keep is capped by LogCapture.
        "log_config": LogConfig(type=LogConfig.types.JSON, config={"max-size": "50m", "max-file": "2"}),
    }
