"""The error tree: every error has a unique machine code and a documented exit code."""

from __future__ import annotations

import inspect

from core import errors

DOCUMENTED_EXIT_CODES = {1, 2, 3, 4, 5, 75, 78}


def all_errors() -> list[type[errors.AbbyError]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.AbbyError)
    ]


def test_every_error_has_a_unique_code() -> None:
    codes = [cls.code for cls in all_errors()]
    assert len(codes) == len(set(codes)), sorted(codes)


def test_only_the_base_error_falls_back_to_exit_1() -> None:
    for cls in all_errors():
        assert cls.exit_code in DOCUMENTED_EXIT_CODES
        if cls is not errors.AbbyError:
            assert cls.exit_code != 1, f"{cls.__name__} must map to a specific exit code"


def test_invalid_input_is_also_a_value_error_for_seed_callers() -> None:
    assert issubclass(errors.InvalidAmount, ValueError)
    assert issubclass(errors.UnknownUser, LookupError)


def test_message_is_one_line_and_fields_are_kept() -> None:
    exc = errors.InsufficientFunds("balance 3 is below 5", balance=3, needed=5)
    assert str(exc) == "balance 3 is below 5"
    assert exc.fields == {"balance": 3, "needed": 5}


def test_disk_full_and_read_only_storage_are_temporary_failures() -> None:
    """Retry after freeing space or remounting: exit 75, never 1 (internal) or 78 (config)."""
    for cls in (errors.StorageUnavailable, errors.DiskFull, errors.ReadOnlyStorage):
        assert issubclass(cls, errors.TemporaryFailure)
        assert cls.exit_code == errors.ExitCode.TEMPORARY == 75
    assert "DiskFull" in errors.__doc__ and "ReadOnlyStorage" in errors.__doc__
