"""Command-line arguments checked before any compute."""

import argparse

import pytest

from kbalance.arguments import SEED, check_scheduler, count, out_arg
from kbalance.errors import InvalidValueError


def test_count_accepts_whole_numbers_in_range_and_names_what_is_allowed():
    parse = count(1, 10, "a number of members")
    assert parse("7") == 7
    for text in ("0", "11", "2.5", "many"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"a number of members, a whole number in \[1, 10\]"):
            parse(text)
    assert SEED("0") == 0


def test_out_refuses_an_empty_path():
    assert out_arg(None) is None
    assert str(out_arg("runs/a")) == "runs/a"
    with pytest.raises(InvalidValueError, match="'--out'"):
        out_arg("  ")


@pytest.mark.parametrize("address", ["127.0.0.1:8786", "http://127.0.0.1:8786", "tcp://:8786", "tcp://host"])
def test_a_scheduler_address_needs_scheme_host_and_port(address):
    with pytest.raises(InvalidValueError, match="'--scheduler'"):
        check_scheduler(address)
    assert check_scheduler(None) is None
