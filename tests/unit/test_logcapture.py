"""The log cap: head and tail kept, the cut marked."""

from consumer.logcapture import LogCapture
from storage.logmarks import Mark, decode, encode


def test_small_logs_are_kept_whole() -> None:
    log = LogCapture(100)
    log.write(b"hello ")
    log.write(b"world")
    assert log.getvalue() == b"hello world" and not log.truncated


def test_large_logs_keep_head_and_tail_with_a_mark() -> None:
    log = LogCapture(100)
    for i in range(1000):
        log.write(f"line {i}\n".encode())
    value = log.getvalue()
    assert log.truncated
    assert value.startswith(b"line 0\nline 1\n")
    assert value.endswith(b"line 999\n")
    assert b"bytes of log cut here" in value
    head, _, tail = value.partition(b"\n[... labqueue:")
    assert len(head) <= 50 and len(tail.split(b"...]\n", 1)[1]) <= 50


def text_of(value: bytes, marks: list[Mark], kind: str) -> list[bytes]:
    return [value[m.start : m.end] for m in marks if m.kind == kind]


def test_labqueues_own_lines_are_marked_out_of_band_and_the_jobs_are_not() -> None:
    log = LogCapture(1000)
    log.note("[labqueue] building environment x")
    with log.section("build"):
        log.write(b"Collecting numpy\n")
    log.note("[labqueue] environment ready")
    log.write(b"[... labqueue: 5 bytes of log cut here (log limit 1000 bytes) ...]\n[labqueue] environment ready\nno newline")
    log.note("[labqueue] left out of the output: x")
    value, marks = log.snapshot()
    assert text_of(value, marks, "labqueue") == [
        b"[labqueue] building environment x\n", b"[labqueue] environment ready\n", b"[labqueue] left out of the output: x\n"
    ]
    assert text_of(value, marks, "build") == [b"Collecting numpy\n"]
    assert text_of(value, marks, "cut") == []  # the job's look-alike is only text
    assert value.endswith(b"no newline\n[labqueue] left out of the output: x\n")


def test_marks_follow_the_bytes_across_the_cut() -> None:
    log = LogCapture(100)
    log.note("[labqueue] start")
    with log.section("build"):
        for i in range(40):
            log.write(f"pip {i}\n".encode())
    log.note("[labqueue] end")
    value, marks = log.snapshot()
    assert log.truncated
    (cut,) = text_of(value, marks, "cut")
    assert cut.startswith(b"\n[... labqueue: ") and cut.endswith(b"...]\n")
    assert text_of(value, marks, "labqueue") == [b"[labqueue] start\n", b"[labqueue] end\n"]
    head_part, tail_part = text_of(value, marks, "build")
    assert head_part.startswith(b"pip 0\n") and tail_part.endswith(b"pip 39\n")
    assert value == value[: marks[0].end] + value[marks[0].end :]  # offsets are within the value
    assert all(0 <= m.start < m.end <= len(value) for m in marks)


def test_stored_marks_are_checked_when_read() -> None:
    marks = [Mark("labqueue", 0, 10), Mark("cut", 10, 20)]
    assert decode(encode(marks), 20) == marks
    assert decode(encode(marks), 15) == [Mark("labqueue", 0, 10)]  # past the end of the log: not a mark
    assert decode('[["script",0,5],["cut",-1,3],["cut","0",2],"x"]', 100) == []
    assert decode("not json", 100) == [] and decode(None, 100) == []
