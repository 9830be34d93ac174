"""femeit validate: the runner, its report and its exit status (with stand-in studies)."""

import textwrap

import pytest

import femeit.validate as validate_module
from femeit.cli import main
from femeit.errors import FemeitError

STUDY = textwrap.dedent(
    """
    import argparse, sys
    from pathlib import Path
    parser = argparse.ArgumentParser()
    parser.add_argument("-o", type=Path)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    args.o.mkdir(parents=True, exist_ok=True)
    table = "| check | value |\\n|---|---|\\n| quick | " + str(args.quick) + " |\\n"
    (args.o / "{name}.md").write_text("# {name}\\n\\n" + table)
    (args.o / "{name}_figure.png").write_bytes(b"not really a png")
    sys.exit({rc})
    """
)


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    folder = tmp_path / "validation"
    folder.mkdir()
    (folder / "good.py").write_text(STUDY.format(name="good", rc=0))
    (folder / "bad.py").write_text(STUDY.format(name="bad", rc=3))
    studies = (
        validate_module.Study("good", "A study that passes", ("--quick",)),
        validate_module.Study("bad", "A study that fails", ("--quick",)),
        validate_module.Study("absent", "A study whose script is missing", ()),
        validate_module.Study("full_only", "A study without a quick mode", None),
        validate_module.Study("needs_nothing_installed", "Needs a missing module", (), needs="no_such_module_xyz"),
    )
    monkeypatch.setattr(validate_module, "STUDIES", studies)
    monkeypatch.setattr(validate_module, "validation_folder", lambda: folder)
    return tmp_path


def test_report_collects_tables_figures_and_failures(stand_ins):
    out = stand_ins / "report"
    rc = validate_module.validate(out, only=["good", "bad"])
    assert rc == 1
    report = (out / "report.md").read_text()
    assert "| good | pass |" in report and "| bad | FAIL |" in report
    assert "| quick | True |" in report  # the study's own table, run in quick mode
    assert "![good_figure](good/good_figure.png)" in report
    assert "bad: FAIL exit 3" in report
    assert (out / "good" / "log.txt").exists()


def test_passing_studies_exit_zero_and_skips_are_reported(stand_ins):
    out = stand_ins / "report"
    assert validate_module.validate(out, only=["good", "full_only", "needs_nothing_installed"]) == 0
    report = (out / "report.md").read_text()
    assert "| full_only | not in quick mode |" in report
    assert "| needs_nothing_installed | skipped |" in report
    assert validate_module.validate(out, only=["absent"]) == 1


def test_cli_and_bad_input(stand_ins, capsys):
    out = stand_ins / "cli"
    assert main(["validate", "--only", "good", "-o", str(out)]) == 0
    assert main(["validate", "--only", "nonsense", "-o", str(out)]) == 2
    assert "unknown studies ['nonsense']" in capsys.readouterr().err
    with pytest.raises(FemeitError, match="mode"):
        validate_module.validate(out, mode="medium")
    with pytest.raises(FemeitError, match="timeout"):
        validate_module.validate(out, only=["good"], timeout=-5)
    a_file = stand_ins / "a_file.md"
    a_file.write_text("x")
    with pytest.raises(FemeitError, match="not a folder"):
        validate_module.validate(a_file, only=["good"])


def test_an_installed_package_runs_the_studies_as_femeit_studies_modules(tmp_path, monkeypatch):
    """Without a source checkout the runner finds femeit.studies.<name> (the wheel ships validation/ there)."""
    import sys
    import types

    (tmp_path / "good.py").write_text("print('hello')\n")
    package = types.ModuleType("femeit.studies")
    package.__path__ = [str(tmp_path)]
    monkeypatch.setitem(sys.modules, "femeit.studies", package)
    monkeypatch.setattr(validate_module, "validation_folder", lambda: None)
    command = validate_module.study_command(validate_module.Study("good", "t", ()))
    assert command == [sys.executable, "-m", "femeit.studies.good"]
    assert validate_module.study_command(validate_module.Study("nowhere", "t", ())) is None
    result = validate_module.run_study(validate_module.Study("nowhere", "t", ()), tmp_path / "out", "quick", 10.0)
    assert result["status"] == "missing" and "femeit.studies.nowhere" in result["note"]
