"""The failure summary: the exception found at the end of a log, and a hint for the causes researchers meet most."""

from storage.logmarks import Mark
from webapp.failure import JobFacts, job_text, summarize

DEMO_WITHOUT_DATASET = """\
[labqueue] environment python found in cache
Traceback (most recent call last):
  File "/job/code.py", line 46, in <module>
    main()
  File "/job/code.py", line 18, in main
    readings = pd.read_csv(DATA)
               ^^^^^^^^^^^^^^^^^
  File "/usr/lib/python3/dist-packages/pandas/io/common.py", line 873, in get_handle
    handle = open(
             ^^^^^
FileNotFoundError: [Errno 2] No such file or directory: '/data/demo-sensors/readings.csv'
"""


def facts(status: str = "failed", reason: str = "exited with code 1", **extra) -> JobFacts:
    values = {"runtime": "python", "datasets": (), "memory_limit": 2048, "time_limit": 3600}
    return JobFacts(status=status, reason=reason, **{**values, **extra})


def test_other_states_have_no_summary() -> None:
    for status in ("succeeded", "cancelled", "queued", "running"):
        assert summarize(facts(status), DEMO_WITHOUT_DATASET, []) is None


def test_a_traceback_highlights_its_final_frame_and_message() -> None:
    failure = summarize(facts(), DEMO_WITHOUT_DATASET, ["demo-sensors"])
    assert failure is not None
    assert failure.summary == "Failed: exited with code 1"
    assert failure.exception == (
        '  File "/usr/lib/python3/dist-packages/pandas/io/common.py", line 873, in get_handle\n'
        "    handle = open(\n"
        "             ^^^^^\n"
        "FileNotFoundError: [Errno 2] No such file or directory: '/data/demo-sensors/readings.csv'"
    )
    assert failure.lines[-1].startswith("FileNotFoundError")


def test_a_dataset_not_chosen_names_it_and_the_flag() -> None:
    failure = summarize(facts(), DEMO_WITHOUT_DATASET, ["demo-sensors", "line7"])
    assert failure is not None and failure.hint is not None
    assert "--dataset demo-sensors" in failure.hint


def test_a_dataset_that_does_not_exist_lists_those_that_do() -> None:
    text = DEMO_WITHOUT_DATASET.replace("demo-sensors", "line9")
    failure = summarize(facts(), text, ["demo-sensors", "line7"])
    assert failure is not None and failure.hint is not None
    assert "no dataset line9" in failure.hint and "demo-sensors, line7" in failure.hint


def test_a_mounted_dataset_without_the_file_says_so() -> None:
    failure = summarize(facts(datasets=("demo-sensors@2",)), DEMO_WITHOUT_DATASET, ["demo-sensors"])
    assert failure is not None and failure.hint is not None
    assert "mounted at /data/demo-sensors/" in failure.hint and "--dataset" not in failure.hint


def test_a_module_not_found_points_to_requirements_with_the_distribution_name() -> None:
    text = 'Traceback (most recent call last):\n  File "/job/code.py", line 1, in <module>\n    import sklearn\nModuleNotFoundError: No module named \'sklearn\'\n'
    failure = summarize(facts(), text, [])
    assert failure is not None and failure.hint is not None
    assert "scikit-learn" in failure.hint and "requirements.txt" in failure.hint
    assert failure.exception == '  File "/job/code.py", line 1, in <module>\n    import sklearn\nModuleNotFoundError: No module named \'sklearn\''


def test_the_last_of_chained_tracebacks_counts() -> None:
    text = (
        'Traceback (most recent call last):\n  File "/job/code.py", line 3, in <module>\n    x = d["k"]\nKeyError: \'k\'\n\n'
        "During handling of the above exception, another exception occurred:\n\n"
        'Traceback (most recent call last):\n  File "/job/code.py", line 5, in <module>\n    raise ValueError("bad k")\nValueError: bad k\n'
    )
    failure = summarize(facts(), text, [])
    assert failure is not None and failure.exception is not None
    assert failure.exception.endswith("ValueError: bad k") and "KeyError" not in failure.exception


def test_an_octave_error_line_with_where_it_was_called() -> None:
    text = "reading\nerror: load: unable to find file /data/demo-sensors/readings.mat\nerror: called from\n    code at line 3 column 1\n"
    failure = summarize(facts(runtime="matlab"), text, ["demo-sensors"])
    assert failure is not None
    assert failure.exception == "error: load: unable to find file /data/demo-sensors/readings.mat\nerror: called from\n    code at line 3 column 1"
    assert failure.hint is not None and "--dataset demo-sensors" in failure.hint


def test_an_octave_undefined_function_suggests_pkg_load() -> None:
    failure = summarize(facts(runtime="matlab"), "error: 'butter' undefined\n", [])
    assert failure is not None and failure.hint is not None and "pkg load" in failure.hint


def test_out_of_memory_gives_the_peak_seen_and_the_limit() -> None:
    failure = summarize(facts("out_of_memory", "killed at the memory limit of 256 MiB", memory_limit=256, peak_memory_bytes=255 * 2**20), "allocating\n", [])
    assert failure is not None and failure.hint is not None
    assert failure.summary == "Out of memory: killed at the memory limit of 256 MiB"
    assert "255 MiB" in failure.hint and "256 MiB" in failure.hint and "--memory-limit" in failure.hint


def test_timed_out_and_system_error_have_hints() -> None:
    timed_out = summarize(facts("timed_out", "stopped at the wall-clock limit", time_limit=600), "step 9\n", [])
    assert timed_out is not None and timed_out.hint is not None and "10 min" in timed_out.hint
    system = summarize(facts("system_error", "infrastructure failure"), "", [])
    assert system is not None and system.lines == () and system.exception is None and "resubmit" in system.hint


def test_a_build_that_found_no_wheel_names_the_requirement() -> None:
    text = "ERROR: Could not find a version that satisfies the requirement nosuchpkg==1.0\nERROR: No matching distribution found for nosuchpkg==1.0\n"
    failure = summarize(facts(reason="installing requirements.txt failed (exit code 1)"), text, [])
    assert failure is not None and failure.hint is not None and "nosuchpkg==1.0" in failure.hint
    assert failure.exception == "ERROR: No matching distribution found for nosuchpkg==1.0"


def test_the_excerpt_is_the_last_lines_and_keeps_the_final_frame() -> None:
    text = "\n".join(f"step {i}" for i in range(100)) + "\n" + DEMO_WITHOUT_DATASET
    failure = summarize(facts(), text, [])
    assert failure is not None and len(failure.lines) == 20 and failure.highlight is not None
    assert failure.lines[failure.highlight[0]].startswith('  File "/usr/lib/python3/dist-packages/pandas')
    no_exception = summarize(facts(), "\n".join(f"step {i}" for i in range(100)), [])
    assert no_exception is not None and no_exception.lines[-1] == "step 99" and len(no_exception.lines) == 20
    assert no_exception.highlight is None and no_exception.hint is None


def test_progress_bars_keep_only_their_last_state() -> None:
    failure = summarize(facts(), "10%\r50%\r100%\nValueError: x\n", [])
    assert failure is not None and failure.lines == ("100%", "ValueError: x")


def test_job_text_leaves_out_labqueues_notes_and_the_first_partial_line() -> None:
    log = b"abc\n[labqueue] environment ready\nValueError: bad\n"
    note = Mark("labqueue", 4, 4 + len(b"[labqueue] environment ready\n"))
    assert job_text(log, 0, [note]) == "abc\nValueError: bad\n"
    assert job_text(log[2:], 2, [note]) == "ValueError: bad\n"  # "c" of a line whose start was not read


def test_a_job_printing_labqueue_lookalikes_keeps_them() -> None:
    log = b"[labqueue] environment ready\nValueError: bad\n"
    assert job_text(log, 0, []) == log.decode()
