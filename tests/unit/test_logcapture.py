"""The log cap: head and tail kept, the cut marked."""

from consumer.logcapture import LogCapture


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
