"""The runtime table is the one place a runtime is written: a runtime added to it reaches every reader."""

from __future__ import annotations

import io
import zipfile

import pytest
from flask.testing import FlaskClient

from consumer.runtimes import load_runtime
from producer.config import BrokerConfig
from storage.archive import ArchiveError, inspect_zip
from storage.runtimes import RUNTIMES, Runtime, entry_file_choices

JULIA = Runtime(name="julia", label="Julia", entry_file="code.jl", image="example/julia:1", command=("julia", "code.jl"))


@pytest.fixture
def with_julia(monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setitem(RUNTIMES, JULIA.name, JULIA)
    return JULIA


def zip_of(*names: str) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "x")
    buffer.seek(0)
    return buffer


def test_the_archive_check_detects_a_runtime_from_the_table(with_julia: Runtime) -> None:
    assert inspect_zip(zip_of("p/code.jl"), "p.zip").runtime == "julia"
    assert inspect_zip(zip_of("p/code.jl"), "p.zip", runtime="julia").runtime == "julia"


def test_the_archive_check_names_every_entry_file_of_the_table(with_julia: Runtime) -> None:
    with pytest.raises(ArchiveError) as refused:
        inspect_zip(zip_of("p/README"), "p.zip")
    assert str(refused.value) == (
        "No entry file: put code.py (Python), code.m (MATLAB / Octave) or code.jl (Julia) in the folder 'p/'."
    )
    with pytest.raises(ArchiveError) as both:
        inspect_zip(zip_of("p/code.py", "p/code.jl"), "p.zip")
    assert "both code.py and code.jl" in str(both.value)


def test_the_archive_check_refuses_a_runtime_missing_from_the_table() -> None:
    with pytest.raises(ArchiveError) as refused:
        inspect_zip(zip_of("code.py"), "p.zip", runtime="julia")
    assert refused.value.code == "runtime_mismatch" and "choose one of python, matlab" in str(refused.value)


def test_entry_file_choices_read_as_a_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert entry_file_choices() == "code.py (Python) or code.m (MATLAB / Octave)"
    monkeypatch.delitem(RUNTIMES, "matlab")
    assert entry_file_choices() == "code.py (Python)"


def test_a_consumer_runs_the_tables_runtime_with_its_own_settings(with_julia: Runtime) -> None:
    assert load_runtime("julia", {}) == JULIA
    tuned = load_runtime("julia", {"LABQUEUE_RUNTIME_JULIA_IMAGE": "lab/julia:licensed", "LABQUEUE_RUNTIME_JULIA_COMMAND": "julia -O3 code.jl"})
    assert (tuned.image, tuned.command, tuned.entry_file) == ("lab/julia:licensed", ("julia", "-O3", "code.jl"), "code.jl")
    with pytest.raises(ValueError, match="unknown runtime 'fortran'; known: python, matlab, julia"):
        load_runtime("fortran", {})


def test_the_broker_declares_a_queue_for_every_runtime_of_the_table_by_default(with_julia: Runtime) -> None:
    assert BrokerConfig.from_env({"LABQUEUE_BROKER_URL": "amqp://x/"}).runtimes == ("python", "matlab", "julia")
    assert BrokerConfig.from_env({"LABQUEUE_BROKER_URL": "amqp://x/", "LABQUEUE_RUNTIMES": "python"}).runtimes == ("python",)


def test_the_api_and_the_upload_page_hand_browsers_the_table(with_julia: Runtime, client: FlaskClient, token: str) -> None:
    """The browser's zip preview reads the entry files from the page (data-runtimes), so it follows the table too."""
    bearer = {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/runtimes", headers=bearer).get_json()["items"]
    assert listed[-1] == {"name": "julia", "label": "Julia", "entry_file": "code.jl"}
    assert [entry["name"] for entry in listed] == list(RUNTIMES)
    page = client.get("/upload", headers=bearer).get_data(as_text=True)
    assert 'data-runtimes="[{&#34;entry_file&#34;: &#34;code.py&#34;' in page and "&#34;code.jl&#34;" in page
    assert '<option value="julia">Julia (code.jl)</option>' in page
    assert "<code>code.jl</code> (Julia)" in page
