"""The configuration table against `Settings`, the loader and the README."""

from dataclasses import fields
from pathlib import Path

import pytest

from shipper.config import known_variables, load_settings
from shipper.config.parsers import existing_file
from shipper.config.readme import render_table, replace_table
from shipper.config.table import TABLE, Variable
from shipper.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
PLAIN = [v for v in TABLE if v.resolve is None]
DERIVED = [v for v in TABLE if v.resolve is not None]


def test_the_readme_table_is_the_rendered_table() -> None:
    readme = README.read_text(encoding="utf-8")
    assert render_table() in readme, "run: python scripts/config_table.py"
    assert replace_table(readme) == readme


def test_the_table_has_one_row_per_settings_field_in_order() -> None:
    assert [v.field for v in TABLE] == [f.name for f in fields(Settings)]


def test_no_variable_is_declared_twice() -> None:
    names = [name for v in TABLE for name in (v.name, *v.compat)]
    assert len(names) == len(set(names))
    assert known_variables() == {name for v in TABLE for name in v.names}


@pytest.mark.parametrize("variable", PLAIN, ids=lambda v: v.name)
def test_a_plain_row_parses_its_default_into_the_settings_default(variable: Variable) -> None:
    assert variable.parse is not None and variable.doc
    expected = getattr(Settings(), variable.field)
    if variable.parse is existing_file:  # the default file exists only in a pod
        assert variable.default == (expected or "")
    elif variable.default:
        assert variable.parse(variable.default) == expected
    else:
        assert expected in (None, ())


@pytest.mark.parametrize("variable", [v for v in DERIVED if v.default], ids=lambda v: v.name)
def test_a_derived_rows_default_changes_nothing_when_written_out(variable: Variable) -> None:
    assert load_settings({variable.name: variable.default}) == load_settings({})


def test_secret_rows_are_the_credentials() -> None:
    assert {v.name for v in TABLE if v.secret} == {"SHIPPER_ES_PASSWORD", "SHIPPER_ES_API_KEY"}


def test_replace_table_needs_the_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        replace_table("# a README without the table\n")
