from __future__ import annotations

import pytest

from onramp.migrations import MigrationError, discover


def test_repo_migrations_are_well_formed_and_ordered():
    for target in ("warehouse", "app"):
        found = discover(target)
        assert [m.version for m in found] == sorted(m.version for m in found)
    assert discover("warehouse")[0].name == "create_schemas"


def test_badly_named_file_is_refused(tmp_path):
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "1_schemas.sql").write_text("select 1")
    with pytest.raises(MigrationError, match="NNNN_what.sql"):
        discover("wh", root=tmp_path)


def test_duplicate_versions_are_refused(tmp_path):
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "0001_a.sql").write_text("select 1")
    (tmp_path / "wh" / "0001_b.sql").write_text("select 2")
    with pytest.raises(MigrationError, match="share a version"):
        discover("wh", root=tmp_path)
