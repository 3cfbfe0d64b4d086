"""numerals: the one rule for numbers in text from users and peers (ASCII digits only)."""
from __future__ import annotations

import pytest

from cutout import numerals


@pytest.mark.parametrize("text", ["²", "¹²", "٣", "３", "1_0", "+5", "-5", "", " ", "0x10", "1.0", "١"])
def test_integer_refuses_anything_but_ascii_digits(text):
    assert not numerals.is_integer(text)
    with pytest.raises(ValueError):
        numerals.integer(text)


@pytest.mark.parametrize("text, value", [("0", 0), ("42", 42), (" 7\t", 7), ("007", 7)])
def test_integer_reads_ascii_digits(text, value):
    assert numerals.is_integer(text) and numerals.integer(text) == value


def test_a_signed_integer_takes_a_sign_and_nothing_else():
    assert numerals.integer("-1", signed=True) == -1 and numerals.integer("+3", signed=True) == 3
    with pytest.raises(ValueError):
        numerals.integer("-٣", signed=True)


@pytest.mark.parametrize("text", ["٥٠", "５", "1_0", "inf", "nan", "1e999", "", ".", "1.2.3", "²"])
def test_decimal_refuses_what_float_would_take_or_crash_on(text):
    with pytest.raises(ValueError):
        numerals.decimal(text)


@pytest.mark.parametrize("text, value", [("50", 50.0), ("0.5", 0.5), (".5", 0.5), ("5.", 5.0),
                                         ("-1", -1.0), ("1e2", 100.0), (" 2 ", 2.0)])
def test_decimal_reads_ascii_numbers(text, value):
    assert numerals.decimal(text) == value
