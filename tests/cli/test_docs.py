"""The documentation generated from the code stays in step with it."""

from __future__ import annotations

from pathlib import Path

from cli import docs

ROOT = Path(__file__).resolve().parents[2]
MODEL_DOC = ROOT / "docs" / "model.md"


def test_parameter_tables_of_the_model_page_are_up_to_date(capsys):
    text = MODEL_DOC.read_text(encoding="utf-8")
    for group in docs.GROUPS:
        assert f"<!-- BEGIN {group} table -->" in text and f"<!-- END {group} table -->" in text
    status = docs.main(["--check", str(MODEL_DOC)])
    assert status == 0, capsys.readouterr().err  # fix: python -m cli.docs --update docs/model.md


def test_a_stale_table_is_found_and_rewritten(tmp_path):
    stale = tmp_path / "model.md"
    stale.write_text(
        MODEL_DOC.read_text(encoding="utf-8").replace(
            "| `q_imitation` | 2 |", "| `q_imitation` | 9 |"
        )
    )
    assert docs.main(["--check", str(stale)]) == 1
    assert docs.main(["--update", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == MODEL_DOC.read_text(encoding="utf-8")


def test_the_readme_is_a_front_door():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 200
