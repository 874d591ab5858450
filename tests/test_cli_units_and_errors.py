"""Durations take the same units everywhere; errors quote what was typed and
name the option that was given (``--check-every``, not ``check_every``)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from certwarden.core.durations import parse_duration
from tests.conftest import Cli

H = timedelta(hours=1)


@pytest.mark.parametrize(
    "args",
    [
        ["list", "--expiring-within", "2w"],
        ["monitor", "settings", "set", "--frequency", "1w"],
        ["revocation", "settings", "set", "--check-every", "1w"],
        ["params", "set", "--validity-frequency", "1w"],
    ],
    ids=lambda a: " ".join(a[:-1]),
)
def test_weeks_are_accepted_by_every_duration_option(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.code == 0, result


def test_the_stored_values_follow_the_typed_weeks(cli: Cli) -> None:
    cli("monitor", "settings", "set", "--frequency", "1w")
    assert json.loads(cli("monitor", "settings", "--json").stdout)["frequency"] == "7d"
    cli("params", "set", "--validity-frequency", "2 days")
    shown = json.loads(cli("params", "--json").stdout)
    assert shown["validity_check_frequency_hours"] == 48


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["monitor", "settings", "set", "--frequency", "0h"],
         "error: --frequency: Notification Frequency: 0h is too short; the minimum is 1 hour"),
        (["monitor", "settings", "set", "--frequency", "0d"],
         "error: --frequency: Notification Frequency: 0d is too short; the minimum is 1 hour"),
        (["revocation", "settings", "set", "--check-every", "0h"],
         "error: --check-every: 0h is too short; the minimum is 1 hour"),
        (["revocation", "settings", "set", "--check-every", "36 hrs", "--max-age", "0"],
         "error: --max-age: must be between 1 and 720 h, not 0"),
        (["params", "set", "--validity-frequency", "5fortnights"],
         "error: --validity-frequency: '5fortnights' has an unknown unit 'fortnights'"),
        (["smtp", "settings", "set", "--port", "99999"], "error: --port: "),
        (["users", "add", "bob", "--password-env", "PW"],
         "error: the password (--password-env, --password-file or the prompt): must be at least"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else "",
)  # fmt: skip
def test_errors_name_the_option_and_quote_the_input(
    cli: Cli, args: list[str], expected: str
) -> None:
    result = cli(*args, env={"PW": "short"})
    assert result.code == 1, result
    assert expected in result.stderr, result.stderr
    assert "nothing was saved" in result.stderr
    for field in ("check_every", "max_age_hours", "validity_check_frequency_hours", "frequency:"):
        assert f"error: {field}" not in result.stderr


def test_one_parser_many_spellings() -> None:
    for text in ("2w", "14d", "14 days", "336h", "336 HOURS", "20160m"):
        assert parse_duration(text) == timedelta(weeks=2), text
    assert parse_duration("24", default_unit="h") == 24 * H
    with pytest.raises(ValueError, match="'24' has no unit"):
        parse_duration("24")
    with pytest.raises(ValueError, match="90m is not a whole number of hours"):
        parse_duration("90m", step=H)
    with pytest.raises(ValueError, match="999999999w is too long"):
        parse_duration("999999999w", maximum=timedelta(days=365))
