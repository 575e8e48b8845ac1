"""What requirements.txt may hold: named requirements and comments; every other form pip reads is refused by line."""

import io
import zipfile

import pytest

from storage.archive import ArchiveError, inspect_zip
from storage.requirements import RequirementsError, canonical_requirements, parse_requirements

# Each form pip would read as something other than a named requirement from the index, as a file's second line.
REFUSED = {
    "direct reference": "evil @ http://172.17.0.1:18999/evil-0.1.tar.gz",
    "direct reference to a file": "evil @ file:///tmp/evil.whl",
    "url": "https://example.invalid/evil-0.1-py3-none-any.whl",
    "vcs link": "git+https://example.invalid/evil.git#egg=evil",
    "local path": "./vendor/evil",
    "parent path": "../evil",
    "absolute path": "/tmp/evil-0.1.tar.gz",
    "editable": "-e ./vendor/evil",
    "editable, long form": "--editable=git+https://example.invalid/evil.git",
    "index url": "-i http://172.17.0.1:18999/simple",
    "index url, long form": "--index-url http://172.17.0.1:18999/simple",
    "extra index url": "--extra-index-url=http://172.17.0.1:18999/simple",
    "find links": "-f http://172.17.0.1:18999/",
    "nested requirements": "-r other.txt",
    "constraints": "-c constraints.txt",
    "trusted host": "--trusted-host 172.17.0.1",
    "no binary": "--no-binary :all:",
    "per-line option": "numpy==2.4.6 --config-settings=editable_mode=compat",
    "per-line hash": "numpy==2.4.6 --hash=sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "environment variable": 'numpy; python_version == "${PIP_INDEX_URL}"',
    "line continuation": "numpy==2.4.6 \\",
    "garbage": "numpy = = 2",
}


@pytest.mark.parametrize("form", sorted(REFUSED))
def test_each_form_but_a_named_requirement_is_refused_naming_its_line(form: str) -> None:
    line = REFUSED[form]
    with pytest.raises(RequirementsError) as caught:
        parse_requirements(f"# first a comment\n{line}\nscipy\n".encode())
    message = str(caught.value)
    assert caught.value.line_number == 2
    assert "line 2" in message and line.strip()[:40] in message, message


def test_named_requirements_with_extras_versions_and_markers_pass() -> None:
    text = (
        "\ufeff# a comment\n"
        "numpy==2.4.6  # pinned\n"
        "Pandas[Excel,performance] >=2, <4\n"
        'tomli; python_version < "3.11"\n'
        "\n"
        "   # indented comment \\\n"
        "Foo.Bar_baz~=1.0\n"
    )
    requirements = parse_requirements(text.encode())
    assert [requirement.name for requirement in requirements] == ["numpy", "Pandas", "tomli", "Foo.Bar_baz"]


def test_a_hash_without_whitespace_before_it_is_no_comment_to_pip_nor_here() -> None:
    with pytest.raises(RequirementsError, match="line 1"):
        parse_requirements(b"numpy#@ http://172.17.0.1/x\n")


def test_text_that_is_not_utf8_is_refused_with_its_line() -> None:
    with pytest.raises(RequirementsError, match="line 2.*not UTF-8"):
        parse_requirements(b"numpy\nsci\xffpy\n")


def test_canonical_text_is_the_same_for_the_same_set_however_written() -> None:
    one = canonical_requirements(parse_requirements(b"# set\nPandas[performance,Excel]>=2,<4\nFoo.Bar_baz~=1.0\n"))
    two = canonical_requirements(parse_requirements(b"foo-bar-baz ~= 1.0\npandas[excel,performance] <4, >=2 # same\n"))
    assert one == two == "foo-bar-baz~=1.0\npandas[excel,performance]<4,>=2\n"


def test_a_name_that_reads_as_an_archive_to_pip_is_written_as_a_plain_name() -> None:
    """pip installs a requirement named 'evil.zip' from a file of that name; the canonical name has no dot."""
    assert canonical_requirements(parse_requirements(b"evil.zip\n")) == "evil-zip\n"


def zipped(files: dict[str, str]) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    buffer.seek(0)
    return buffer


def test_the_upload_check_refuses_a_zip_whose_requirements_name_a_url() -> None:
    upload = zipped({"p/code.py": "print(1)", "p/requirements.txt": "numpy\nevil @ http://172.17.0.1:18999/evil.tar.gz\n"})
    with pytest.raises(ArchiveError) as caught:
        inspect_zip(upload, "p.zip")
    assert caught.value.code == "bad_requirements"
    assert "line 2" in str(caught.value) and "evil @ http://172.17.0.1:18999" in str(caught.value)
    assert upload.tell() == 0


def test_the_upload_check_passes_named_requirements() -> None:
    info = inspect_zip(zipped({"p/code.py": "print(1)", "p/requirements.txt": "numpy==2.4.6\n"}), "p.zip")
    assert info.has_requirements
