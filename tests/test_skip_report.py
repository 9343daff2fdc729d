"""The end of a test run lists what was skipped and how to run it; CI allows no skips."""

from __future__ import annotations

import pytest

from tests.services import REQUIRE_SERVICES_ENV
from tests.skip_report import SECTION, SkipReport, how_to_run

A_SKIPPING_SUITE = """
import pytest

def test_runs():
    pass

def test_needs_postgres():
    pytest.skip("PostgreSQL not reachable at 127.0.0.1:5432: Connection refused")

@pytest.mark.parametrize("n", [1, 2])
def test_needs_a_browser(n):
    pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium)")

def test_needs_something_unknown():
    pytest.skip("the moon is not full")

@pytest.mark.xfail(reason="a known bug", strict=True)
def test_expected_to_fail():
    assert False
"""


def run(pytester: pytest.Pytester) -> pytest.RunResult:
    pytester.makepyfile(A_SKIPPING_SUITE)
    return pytester.runpytest_inprocess("-p", "no:cacheprovider", plugins=[SkipReport()])


def test_a_developer_run_lists_each_skip_reason_with_its_count_and_advice(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REQUIRE_SERVICES_ENV, raising=False)

    result = run(pytester)

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, skipped=4, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            f"*= {SECTION} =*",
            "    2 skipped: Chromium is not installed at /usr/bin/chromium*",
            "       to run: `apt-get install chromium`*",
            "    1 skipped: PostgreSQL not reachable at 127.0.0.1:5432: Connection refused",
            "       to run: start the service on loopback (docs/development.md*",
            "    1 skipped: the moon is not full",
        ]
    )
    assert "allows no skips" not in result.stdout.str()
    assert "a known bug" not in result.stdout.str().split(SECTION)[1]


def test_a_run_that_requires_services_fails_on_any_skip(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")

    result = run(pytester)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*{REQUIRE_SERVICES_ENV}=1 allows no skips: this run fails*"])


def test_a_run_without_skips_prints_no_section(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REQUIRE_SERVICES_ENV, "1")
    pytester.makepyfile("def test_runs():\n    pass\n")

    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", plugins=[SkipReport()])

    assert result.ret == pytest.ExitCode.OK
    assert SECTION not in result.stdout.str()


@pytest.mark.parametrize(
    ("reason", "advice"),
    [
        ("Redis not reachable at 127.0.0.1:6379: refused", "start the service"),
        ("could not import 'aiohttp': No module named 'aiohttp'", "development extra"),
        ("needs the 'encryption' extra (cryptography)", "development extra"),
        ("the openssl command is needed to make test certificates", "apt-get install openssl"),
        ("node is not installed: cannot run the Node.js example", "apt-get install nodejs"),
        ("SIGTERM semantics are POSIX", None),
    ],
)
def test_advice_for_the_suites_own_skip_reasons(reason: str, advice: str | None) -> None:
    found = how_to_run(reason)
    if advice is None:
        assert found is None
    else:
        assert found is not None
        assert advice in found
