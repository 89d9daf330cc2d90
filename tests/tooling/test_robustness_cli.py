"""Bad input through the `h100sim` command (issue 8): a table of cases.

Every case goes through :func:`experiments.cli.main` exactly as a user's command line would. Each
must give exit code 2 and exactly ONE line on stderr that names the file (when there is one), the
key, the value and what is allowed, with a close-match suggestion for a misspelt key or name; no
Python traceback. With ``--debug`` the same input raises (the traceback reaches the user).

No case runs the model for more than the time it takes to load a scenario: every one fails while
the input is checked.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import pytest

from experiments.cli import COMMANDS, main
from model.errors import InputError

# --------------------------------------------------------------------------------------------
# Input files the cases refer to (written into tmp_path; "{tmp}" in an argv is replaced by it)
# --------------------------------------------------------------------------------------------
GOOD_TARGET = """
[[target]]
id = "spot"
metric = "spot_price"
window = ["2023-01-01", "2023-02-01"]
stat = "max"
op = "between"
value = [1.0, 20.0]
source = "test"
"""

SWEEP_HEAD = """
[sweep]
name = "bad"
base = "baseline"
design = "grid"
replications = 1
seed = 1
steps = 2
"""
SWEEP_TAIL = """
[parameters.packaging_multiplier]
values = [1.0, 2.0]

[metrics]
series = "all"
"""

FILES = {
    # scenarios
    "malformed.toml": 'extends = "baseline"\n[grey\nfake_share = 0.1\n',
    "badsection.toml": 'extends = "baseline"\n[gery]\nfake_share = 0.1\n',
    "badkey.toml": 'extends = "baseline"\n[grey]\nseizure_odds_multiplir = 2.0\n',
    "badtype.toml": 'extends = "baseline"\n[grey]\nfake_share = "lots"\n',
    "zero.toml": 'extends = "baseline"\n[vendor]\nlist_price = 0\n',
    "negative.toml": 'extends = "baseline"\n[population]\nfinetuners = -5\n',
    "endbefore.toml": 'extends = "baseline"\n[run]\nend = 2021-01-01\n',
    "badextends.toml": 'extends = "baselin"\n',
    "badchoice.toml": textwrap.dedent("""
        extends = "baseline"
        [[population.clouds]]
        name = "c"
        kind = "hyperscalr"
        region = "US"
        legacy_gpus = 0
        ondemand_price = 2.0
        favoured = false
        own_chips = false
        size = 1.0
    """),
    # targets
    "targets_malformed.toml": "[[target]\nid = 1\n",
    "targets_unknown.toml": GOOD_TARGET + 'sorce = "typo"\n',
    "targets_badop.toml": GOOD_TARGET.replace('op = "between"', 'op = "betwen"'),
    "targets_scenario.toml": GOOD_TARGET + 'scenario = "baselin"\n',
    "targets_window.toml": GOOD_TARGET.replace('["2023-01-01", "2023-02-01"]',
                                               '["2023-03-01", "2023-02-01"]'),
    # sweep specs
    "sweep_malformed.toml": "[sweep\nname = 1\n",
    "sweep_unknown.toml": SWEEP_HEAD.replace("replications", "replicatons") + SWEEP_TAIL,
    "sweep_badparam.toml": SWEEP_HEAD + SWEEP_TAIL.replace("packaging_multiplier]",
                                                           "packaging_multipler]"),
    "sweep_negative.toml": SWEEP_HEAD + SWEEP_TAIL.replace("[1.0, 2.0]", "[1.0, -2.0]"),
    # numbers: finite and within range (issue 16)
    "inf_series.toml": 'extends = "baseline"\n[supply]\n'
                       'packaging_wafers_per_month = [[2022-01-01, 9e4], [2023-01-01, inf]]\n',
    "huge_price.toml": 'extends = "baseline"\n[vendor]\nlist_price = 1e308\n',
    "huge_count.toml": 'extends = "baseline"\n[population]\nfinetuners = ' + "9" * 400 + "\n",
    "targets_inf.toml": GOOD_TARGET.replace("[1.0, 20.0]", "[1.0, inf]"),
    "sweep_huge.toml": SWEEP_HEAD + SWEEP_TAIL.replace("packaging_multiplier]", "fx_cny_per_usd]")
                                              .replace("[1.0, 2.0]", "[7.0, 1e308]"),
    "sweep_inf_range.toml": SWEEP_HEAD + SWEEP_TAIL.replace("values = [1.0, 2.0]",
                                                            "low = 1.0\nhigh = inf\nnum = 2"),
    "manifest_huge.json": json.dumps({"format": 1, "scenario": "baseline", "seed": 0,
                                      "params": {"grey.fx_cny_per_usd": 1e308}}),
    # lists as the ODD reads them: named, in order, meaningful
    "no_releases.toml": 'extends = "baseline"\n[openweights]\nreleases = []\n',
    "releases_order.toml": textwrap.dedent("""
        extends = "baseline"
        [openweights]
        releases = [{ name = "B", date = 2024-01-01, quality = 0.5 },
                    { name = "A", date = 2023-01-01, quality = 0.4 }]
    """),
    "releases_twice.toml": textwrap.dedent("""
        extends = "baseline"
        [openweights]
        releases = [{ name = "A", date = 2023-01-01, quality = 0.4 },
                    { name = "A", date = 2024-01-01, quality = 0.5 }]
    """),
    "rule_rescinded.toml": textwrap.dedent("""
        extends = "baseline"
        [[policy.rules]]
        name = "R"
        announce = 2023-01-01
        effective = 2023-03-01
        rescinded = 2023-02-01
        regions = ["CN"]
        tpp_min = 4800.0
    """),
    "rule_no_regions.toml": textwrap.dedent("""
        extends = "baseline"
        [[policy.rules]]
        name = "R"
        announce = 2023-01-01
        effective = 2023-03-01
        regions = []
        tpp_min = 4800.0
    """),
    "clouds_twice.toml": 'extends = "baseline"\n[population]\ncreators = []\n' + textwrap.dedent("""
        [[population.clouds]]
        name = "C"
        kind = "private"
        region = "US"
        legacy_gpus = 0
        ondemand_price = 4.7
        favoured = false
        own_chips = false
        size = 1.0
    """) * 2,
    # files that are not sane text
    "deep.toml": "v = " + "[" * 5000 + "]" * 5000 + "\n",
    "deep.json": "[" * 100_000 + "]" * 100_000,
}
BYTES = {"latin1.toml": 'extends = "baseline"\n# caf\xe9\n'.encode("latin-1"),
         "utf16.toml": 'extends = "baseline"\n'.encode("utf-16")}

SHORT = ["--set", "end=2023-01-02"]  # anything that got as far as running would stay short

# (id, argv, strings the one error line must contain (case-sensitive))
CASES = [
    # ---- run: scenario names and files --------------------------------------------------
    ("run-unknown-scenario", ["run", "--scenario", "baselin", *SHORT],
     ["'baselin'", "did you mean 'baseline'", "available:"]),
    ("run-missing-file", ["run", "--scenario", "{tmp}/nope.toml", *SHORT],
     ["nope.toml", "does not exist"]),
    ("run-malformed-toml", ["run", "--scenario", "{tmp}/malformed.toml", *SHORT],
     ["malformed.toml", "malformed TOML", "line 2"]),
    ("run-unknown-section", ["run", "--scenario", "{tmp}/badsection.toml", *SHORT],
     ["badsection.toml", "[gery]", "did you mean 'grey'", "allowed:"]),
    ("run-unknown-key", ["run", "--scenario", "{tmp}/badkey.toml", *SHORT],
     ["badkey.toml", "grey.seizure_odds_multiplir", "did you mean 'seizure_odds_multiplier'",
      "allowed in [grey]"]),
    ("run-wrong-type", ["run", "--scenario", "{tmp}/badtype.toml", *SHORT],
     ["badtype.toml", "grey.fake_share", "'lots'", "expected a number >= 0 and <= 1"]),
    ("run-zero-positive", ["run", "--scenario", "{tmp}/zero.toml", *SHORT],
     ["zero.toml", "vendor.list_price", "0.0", "expected a number > 0"]),
    ("run-negative-count", ["run", "--scenario", "{tmp}/negative.toml", *SHORT],
     ["negative.toml", "population.finetuners", "-5", "expected an integer >= 0"]),
    ("run-end-before-start", ["run", "--scenario", "{tmp}/endbefore.toml"],
     ["endbefore.toml", "run.end", "2021-01-01", "must be after run.start"]),
    ("run-bad-extends", ["run", "--scenario", "{tmp}/badextends.toml", *SHORT],
     ["'baselin'", "did you mean 'baseline'"]),
    ("run-bad-choice", ["run", "--scenario", "{tmp}/badchoice.toml", *SHORT],
     ["badchoice.toml", "kind", "'hyperscalr'", "did you mean 'hyperscaler'", "one of"]),
    # ---- run: --set ----------------------------------------------------------------------
    ("set-no-equals", ["run", "--set", "seizure_odds_multiplier", *SHORT],
     ["--set 'seizure_odds_multiplier'", "expected key=value"]),
    ("set-empty-key", ["run", "--set", "=5", *SHORT], ["--set '=5'", "key before '=' is empty"]),
    ("set-bad-toml", ["run", "--set", "fake_share=[1,", *SHORT],
     ["fake_share=[1,", "not a TOML value"]),
    ("set-unknown-key", ["run", "--set", "seizure_odds_multiplir=5", *SHORT],
     ["'seizure_odds_multiplir'", "did you mean 'seizure_odds_multiplier'"]),
    ("set-unknown-dotted", ["run", "--set", "gery.fake_share=0.1", *SHORT],
     ["'gery.fake_share'", "did you mean 'grey.fake_share'"]),
    ("set-unknown-leaf-in-section", ["run", "--set", "grey.fake_shar=0.1", *SHORT],
     ["'grey.fake_shar'", "did you mean 'fake_share'", "allowed in [grey]"]),
    ("set-negative", ["run", "--set", "seizure_odds_multiplier=-1", *SHORT],
     ["grey.seizure_odds_multiplier", "-1", "expected a number >= 0"]),
    ("set-wrong-type", ["run", "--set", "seizure_odds_multiplier=lots", *SHORT],
     ["grey.seizure_odds_multiplier", "'lots'", "expected a number >= 0"]),
    ("set-zero-positive", ["run", "--set", "list_price=0", *SHORT],
     ["vendor.list_price", "0.0", "expected a number > 0"]),
    ("set-bool", ["run", "--set", "export_controls=1", *SHORT],
     ["policy.export_controls", "1", "true or false"]),
    ("set-bad-date", ["run", "--set", "end=2023-02-30"],
     ["run.end", "2023-02-30", "ISO date"]),
    ("set-end-before-start", ["run", "--set", "end=2020-01-01"],
     ["baseline.toml", "end", "run.end = 2020-01-01", "must be after run.start"]),
    ("set-too-long", ["run", "--set", "end=2099-01-01"], ["run.end", "2099-01-01", "30 years"]),
    ("run-negative-seed", ["run", "--seed", "-1", *SHORT], ["--seed -1", "integer >= 0"]),
    ("run-seed-not-int", ["run", "--seed", "x", *SHORT], ["--seed", "'x'", "invalid int"]),
    ("run-missing-manifest", ["run", "--manifest", "{tmp}/none/manifest.json"],
     ["none/manifest.json", "does not exist"]),
    ("run-unknown-option", ["run", "--sed", "1"], ["unrecognized arguments: --sed"]),
    ("unknown-command", ["rn"], ["'rn'", "did you mean 'run'", "allowed:"]),
    # ---- numbers: finite and within range (issue 16) ---------------------------------------
    ("set-inf", ["run", "--set", "funding_climate=[[2022-01-01, inf]]", *SHORT],
     ["demand.funding_climate", "inf", "out of range", "<= 1000"]),
    ("set-minus-inf", ["run", "--set", "packaging_wafers_per_month=[[2022-01-01, -inf]]", *SHORT],
     ["supply.packaging_wafers_per_month", "-inf", ">= 0"]),
    ("set-nan", ["run", "--set", "fake_share=nan", *SHORT], ["grey.fake_share", "nan"]),
    ("set-huge-price", ["run", "--set", "list_price=1e308", *SHORT],
     ["vendor.list_price", "1e+308", "<= 1e+07"]),
    ("set-huge-fx", ["run", "--set", "fx_cny_per_usd=1e308", *SHORT],
     ["grey.fx_cny_per_usd", "1e+308", "<= 1000"]),
    ("run-inf-series", ["run", "--scenario", "{tmp}/inf_series.toml", *SHORT],
     ["inf_series.toml", "supply.packaging_wafers_per_month", "inf", "out of range"]),
    ("run-huge-price", ["run", "--scenario", "{tmp}/huge_price.toml", *SHORT],
     ["huge_price.toml", "vendor.list_price", "1e+308", "<= 1e+07"]),
    ("run-huge-int", ["run", "--scenario", "{tmp}/huge_count.toml", *SHORT],
     ["huge_count.toml", "population.finetuners", "999", "<= 1e+06"]),
    ("validate-inf-value", ["validate", "--targets", "{tmp}/targets_inf.toml", "--seeds", "1"],
     ["targets_inf.toml", "'spot'", "inf", "finite number"]),
    ("sweep-huge-value", ["sweep", "{tmp}/sweep_huge.toml", "--out", "{tmp}/sw", "--no-progress"],
     ["sweep_huge.toml", "fx_cny_per_usd", "1e+308", "<= 1000"]),
    ("sweep-inf-range", ["sweep", "{tmp}/sweep_inf_range.toml", "--out", "{tmp}/sw",
                         "--no-progress"],
     ["sweep_inf_range.toml", "high = inf", "finite number"]),
    ("manifest-huge-value", ["run", "--manifest", "{tmp}/manifest_huge.json", "--out", "{tmp}/r"],
     ["manifest_huge.json", "grey.fx_cny_per_usd", "1e+308", "<= 1000"]),
    ("set-far-future", ["run", "--set", "start=9999-01-01", "--set", "end=9999-12-30"],
     ["run.start", "9999", "to 2999-12-31"]),
    # ---- the same parameter twice; control characters ---------------------------------------
    ("set-leaf-and-dotted", ["run", "--set", "fake_share=0.1", "--set", "grey.fake_share=0.2",
                             *SHORT],
     ["grey.fake_share is given twice", "'fake_share'", "'grey.fake_share'"]),
    ("set-leaf-and-underscore", ["run", "--set", "pace=2", "--set", "openweights__pace=3", *SHORT],
     ["openweights.pace is given twice"]),
    ("set-control-character", ["run", "--set", "list_price=3\x1b[31m", *SHORT],
     ["control character", "'\\x1b'"]),
    ("set-newline", ["run", "--set", "pace=2\nfake_share=0.5", *SHORT], ["control character"]),
    # ---- lists: empty, out of order, twice, meaningless ------------------------------------
    ("run-no-releases", ["run", "--scenario", "{tmp}/no_releases.toml", *SHORT],
     ["no_releases.toml", "openweights.releases = []", "at least one release"]),
    ("run-releases-out-of-order", ["run", "--scenario", "{tmp}/releases_order.toml", *SHORT],
     ["releases_order.toml", "openweights.releases['A'].date", "date order"]),
    ("run-release-twice", ["run", "--scenario", "{tmp}/releases_twice.toml", *SHORT],
     ["releases_twice.toml", "openweights.releases", "'A' is given twice"]),
    ("run-rule-rescinded-early", ["run", "--scenario", "{tmp}/rule_rescinded.toml", *SHORT],
     ["rule_rescinded.toml", "policy.rules['R'].rescinded", "2023-02-01", "after its effective"]),
    ("run-rule-no-regions", ["run", "--scenario", "{tmp}/rule_no_regions.toml", *SHORT],
     ["rule_no_regions.toml", "policy.rules['R'].regions = []", "US, CN, ROW"]),
    ("run-agent-twice", ["run", "--scenario", "{tmp}/clouds_twice.toml", *SHORT],
     ["clouds_twice.toml", "population.creators and population.clouds", "'C' is given twice"]),
    # ---- files that are not sane text ------------------------------------------------------
    ("run-not-utf8", ["run", "--scenario", "{tmp}/latin1.toml", *SHORT],
     ["latin1.toml", "not UTF-8 text"]),
    ("run-utf16", ["run", "--scenario", "{tmp}/utf16.toml", *SHORT], ["utf16.toml", "not UTF-8"]),
    ("run-deeply-nested", ["run", "--scenario", "{tmp}/deep.toml", *SHORT],
     ["deep.toml", "nested too deeply"]),
    ("manifest-deeply-nested", ["run", "--manifest", "{tmp}/deep.json"],
     ["deep.json", "nested too deeply"]),
    ("run-scenario-directory", ["run", "--scenario", "{tmp}/adir.toml", *SHORT],
     ["adir.toml"]),
    # ---- validate ------------------------------------------------------------------------
    ("validate-missing", ["validate", "--targets", "{tmp}/none.toml", "--seeds", "1"],
     ["none.toml", "does not exist"]),
    ("validate-malformed", ["validate", "--targets", "{tmp}/targets_malformed.toml", "--seeds", "1"],
     ["targets_malformed.toml", "malformed TOML"]),
    ("validate-unknown-field", ["validate", "--targets", "{tmp}/targets_unknown.toml", "--seeds", "1"],
     ["targets_unknown.toml", "'sorce'", "did you mean 'source'", "allowed fields"]),
    ("validate-bad-op", ["validate", "--targets", "{tmp}/targets_badop.toml", "--seeds", "1"],
     ["targets_badop.toml", "'betwen'", "between"]),
    ("validate-unknown-scenario", ["validate", "--targets", "{tmp}/targets_scenario.toml",
                                   "--seeds", "1"],
     ["targets_scenario.toml", "'baselin'", "did you mean 'baseline'"]),
    ("validate-end-before-start", ["validate", "--targets", "{tmp}/targets_window.toml",
                                   "--seeds", "1"],
     ["targets_window.toml", "window", "2023-03-01", "on or before the end date"]),
    ("validate-zero-seeds", ["validate", "--targets", "{tmp}/targets_unknown.toml", "--seeds", "0"],
     ["--seeds 0", ">= 1"]),
    # ---- sweep ---------------------------------------------------------------------------
    ("sweep-missing", ["sweep", "{tmp}/none.toml", "--out", "{tmp}/sw", "--no-progress"],
     ["none.toml", "does not exist"]),
    ("sweep-malformed", ["sweep", "{tmp}/sweep_malformed.toml", "--out", "{tmp}/sw", "--no-progress"],
     ["sweep_malformed.toml", "malformed TOML"]),
    ("sweep-unknown-key", ["sweep", "{tmp}/sweep_unknown.toml", "--out", "{tmp}/sw", "--no-progress"],
     ["sweep_unknown.toml", "'replicatons'", "did you mean 'replications'", "allowed:"]),
    ("sweep-unknown-param", ["sweep", "{tmp}/sweep_badparam.toml", "--out", "{tmp}/sw",
                             "--no-progress"],
     ["sweep_badparam.toml", "packaging_multipler", "did you mean 'packaging_multiplier'"]),
    ("sweep-negative-value", ["sweep", "{tmp}/sweep_negative.toml", "--out", "{tmp}/sw",
                              "--no-progress"],
     ["sweep_negative.toml", "-2.0"]),
    ("sweep-no-spec", ["sweep", "--out", "{tmp}/sw", "--no-progress"], ["spec"]),
    ("sweep-report-not-a-sweep", ["sweep-report", "{tmp}/nowhere"],
     ["nowhere", "not a sweep directory"]),
    # ---- compare -------------------------------------------------------------------------
    ("compare-unknown-scenario", ["compare", "baselin", "baseline", "--seeds", "1", "--out",
                                  "{tmp}/cmp", "--quiet"],
     ["'baselin'", "did you mean 'baseline'"]),
]

#: cases whose error argparse reports (not an InputError): --debug does not turn them into a raise
ARGPARSE_CASES = {"run-seed-not-int", "run-unknown-option", "unknown-command"}


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    for name, data in BYTES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "adir.toml").mkdir()
    return tmp_path


def _argv(argv: list[str], tmp: Path) -> list[str]:
    return [a.replace("{tmp}", str(tmp)) for a in argv]


def _exit_code(argv: list[str]) -> int:
    """main()'s return value, or the code argparse exits with (its errors raise SystemExit)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.mark.parametrize("case_id, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(case_id, argv, expected, inputs, capsys, monkeypatch):
    monkeypatch.chdir(inputs)  # a default results/ directory would land in tmp_path
    code = _exit_code(_argv(argv, inputs))
    out, err = capsys.readouterr()
    assert code == 2, f"{case_id}: exit code {code}; stderr:\n{err}"
    assert "Traceback" not in out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"{case_id}: expected one error line, got:\n{err}"
    line = lines[0]
    assert re.match(r"^h100sim( [a-z-]+)?: error: ", line), line
    for piece in expected:
        piece = piece.replace("{tmp}", str(inputs))
        assert piece in line, f"{case_id}: {piece!r} not in {line!r}"
    assert not (inputs / "results").exists(), f"{case_id}: a run started and wrote results/"


@pytest.mark.parametrize("case_id, argv, expected",
                         [c for c in CASES if c[0] not in ARGPARSE_CASES],
                         ids=[c[0] for c in CASES if c[0] not in ARGPARSE_CASES])
def test_debug_shows_the_traceback(case_id, argv, expected, inputs, monkeypatch):
    monkeypatch.chdir(inputs)
    with pytest.raises(InputError):
        main(["--debug", *_argv(argv, inputs)])
    # --debug after the command works too
    cmd, *rest = _argv(argv, inputs)
    with pytest.raises(InputError):
        main([cmd, "--debug", *rest])


def test_a_bug_is_one_line_without_debug_and_a_traceback_with_it(monkeypatch, capsys):
    """An unexpected exception (a bug, not bad input) is still no traceback without --debug."""
    import experiments.run_cmd as run_cmd

    def boom(args):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(run_cmd, "execute", boom)
    assert main(["run"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == [
        "h100sim run: internal error: ZeroDivisionError: boom (rerun with --debug for the traceback)"]
    with pytest.raises(ZeroDivisionError):
        main(["run", "--debug"])


def test_unwritable_output_is_one_line(tmp_path, capsys, monkeypatch):
    """An OSError on a path the user named (here: --out under a regular file) is exit 2."""
    import experiments.run_cmd as run_cmd

    def cannot_write(args):
        raise NotADirectoryError(20, "Not a directory", str(tmp_path / "file" / "out"))

    monkeypatch.setattr(run_cmd, "execute", cannot_write)
    assert main(["run"]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert err.strip() == f"h100sim run: error: {tmp_path / 'file' / 'out'}: Not a directory"


# --------------------------------------------------------------------------------------------
# --help lists each command's own options (the first parse pass must not act on -h)
# --------------------------------------------------------------------------------------------
HELP_OPTIONS = {
    "run": ["--scenario", "--seed", "--set", "--out", "--manifest"],
    "validate": ["--targets", "--seeds", "--workers", "--json", "--report"],
    "compare": ["--seeds", "--out"],
    "sweep": ["--out", "--workers", "--engine", "--resume"],
    "sweep-report": [],
    "app": ["--host", "--port", "--assets"],
    "bench": [],
}


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_subcommand_help_lists_its_options(command, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, flag])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"usage: h100sim {command}")
    assert "--debug" in out
    for option in HELP_OPTIONS.get(command, []):
        assert option in out, f"h100sim {command} {flag} does not list {option}:\n{out}"
    # a module that declares options shows more than the two the top-level parser adds
    if HELP_OPTIONS.get(command):
        assert len(re.findall(r"^\s+--?[a-z]", out, flags=re.M)) > 2


def test_help_before_the_command_and_with_debug(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out, _ = capsys.readouterr()
    assert "usage: h100sim" in out and "run" in out and "validate" in out
    with pytest.raises(SystemExit) as exc:
        main(["--debug", "run", "--help"])
    assert exc.value.code == 0
    out, _ = capsys.readouterr()
    assert "--scenario" in out


def test_help_anywhere_in_a_run_command_does_not_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["run", "--set", "end=2023-01-02", "--help"])
    assert exc.value.code == 0
    assert "--scenario" in capsys.readouterr().out
    assert not (tmp_path / "results").exists()


def test_no_command_is_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1 and "COMMAND" in err


# --------------------------------------------------------------------------------------------
# --force replaces only what h100sim wrote (issue 16)
# --------------------------------------------------------------------------------------------
def _precious(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "thesis.tex").write_text("precious")
    return d


def _fake_run_dir(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "manifest.json").write_text(json.dumps({"scenario": "old", "seed": 9, "params": {}}))
    return d


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch) -> Path:
    """tmp/home is $HOME, tmp/work/here the working directory (with a file of the user's)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    here = _precious(tmp_path / "work" / "here")
    monkeypatch.chdir(here)
    return tmp_path


FORCE_REFUSED = [
    # (id, --out relative to the sandbox (None: the repository), what the line must say)
    ("dot", "work/here/.", "it is the working directory"),
    ("dot-dot", "work/here/..", "it contains the working directory"),
    ("home", "home", "it is the home directory"),
    ("repository", None, "it is the h100sim repository"),
    ("git-checkout", "checkout", "it is a git repository"),
    ("not-written-by-h100sim", "thesis", "holds no manifest.json of an h100sim run or sweep"),
    ("symlink-to-a-run", "link", "is a symbolic link"),
    ("dangling-symlink", "dangling", "is a symbolic link"),
    ("a-file", "afile", "is a file"),
]


@pytest.mark.parametrize("case_id, rel, expected", FORCE_REFUSED, ids=[c[0] for c in FORCE_REFUSED])
def test_force_refuses_what_h100sim_did_not_write(case_id, rel, expected, sandbox, capsys):
    from experiments.outputs import PROJECT_ROOT

    (sandbox / "home" / "notes.txt").write_text("mine")
    _precious(sandbox / "checkout")
    (sandbox / "checkout" / ".git").mkdir()
    _fake_run_dir(sandbox / "checkout")  # a manifest does not make a checkout replaceable
    _precious(sandbox / "thesis")
    run = _fake_run_dir(sandbox / "run")
    (sandbox / "link").symlink_to(run, target_is_directory=True)
    (sandbox / "dangling").symlink_to(sandbox / "nowhere")
    (sandbox / "afile").write_text("x")
    before = sorted(str(p.relative_to(sandbox)) for p in sandbox.rglob("*"))
    out = str(PROJECT_ROOT) if rel is None else str(sandbox / rel)

    code = _exit_code(["run", "--out", out, "--force", *SHORT])

    _, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("h100sim run: error: "), err
    assert expected in lines[0] and out in lines[0], lines[0]
    assert sorted(str(p.relative_to(sandbox)) for p in sandbox.rglob("*")) == before
    assert (sandbox / "work" / "here" / "thesis.tex").read_text() == "precious"
    assert (PROJECT_ROOT / "pyproject.toml").is_file()
    assert not (sandbox / "nowhere").exists()


@pytest.mark.parametrize("manifest", [{"scenario": "old", "seed": 9, "params": {}},
                                      {"format": "h100sim-sweep/1", "runs": []}],
                         ids=["run", "sweep"])
def test_force_replaces_a_run_or_sweep_directory(manifest, sandbox):
    import pandas as pd

    from experiments.outputs import check_out_dir, read_manifest, write_run

    frames = {"series": pd.DataFrame({"date": pd.to_datetime(["2022-10-03"]), "x": [1.0]}),
              "scenario": "fake", "params": {}}

    out = sandbox / "old"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "stale.txt").write_text("from the old run")
    with pytest.raises(InputError, match="--force"):  # not without --force
        check_out_dir(out, {"scenario": "fake", "seed": 0, "params": {}})
    write_run(frames, out, {"seed": 0}, force=True, charts=False)
    assert read_manifest(out)["scenario"] == "fake" and not (out / "stale.txt").exists()
    assert sorted(p.name for p in sandbox.iterdir()) == ["home", "old", "work"]


def test_the_same_run_in_the_working_directory_is_not_replaced(sandbox):
    """Even without --force, h100sim never renames the working directory away."""
    from experiments.outputs import check_out_dir

    _fake_run_dir(Path.cwd())
    with pytest.raises(InputError, match="working directory"):
        check_out_dir(Path("."), {"scenario": "old", "seed": 9, "params": {}})


# --------------------------------------------------------------------------------------------
# A replay checks its manifest before running (issue 16)
# --------------------------------------------------------------------------------------------
def _written_manifest(tmp_path: Path) -> Path:
    import pandas as pd

    from experiments.outputs import write_run

    frames = {"series": pd.DataFrame({"date": pd.to_datetime(["2022-10-03"]), "x": [1.0]}),
              "scenario": "baseline", "params": {"grey.fake_share": 0.05, "run.end": "2023-01-02"}}
    write_run(frames, tmp_path / "rec", {"seed": 0}, charts=False)
    return tmp_path / "rec" / "manifest.json"


def test_a_manifest_carries_the_hash_of_its_run_and_the_version(tmp_path):
    from experiments.outputs import check_replayable, package_version, params_hash

    man = json.loads(_written_manifest(tmp_path).read_text())
    assert man["format"] == 2 and man["version"] == package_version()
    assert man["params_hash"] == params_hash(man) and len(man["params_hash"]) == 64
    check_replayable(man, "m")  # as written: fine
    for key, value in (("seed", 1), ("scenario", "no_open_weights"),
                       ("params", {**man["params"], "grey.fake_share": 0.06})):
        assert params_hash({**man, key: value}) != man["params_hash"], key


@pytest.mark.parametrize("edit, expected", [
    (lambda m: m["params"].update({"grey.fake_share": 0.5}), "do not match its params_hash"),
    (lambda m: m.update(seed=7), "do not match its params_hash"),
    (lambda m: m.update(params_hash="0" * 64), "do not match its params_hash"),
    (lambda m: m.pop("params_hash"), "do not match its params_hash"),
    (lambda m: m.update(format=3), "format = 3 is not a manifest format"),
    (lambda m: m.pop("format"), "format = None is not a manifest format"),
    (lambda m: m.update(format="2"), "format = '2' is not a manifest format"),
], ids=["param", "seed", "hash", "no-hash", "future-format", "no-format", "format-text"])
def test_an_edited_or_unknown_manifest_is_refused_before_running(edit, expected, tmp_path, capsys,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _written_manifest(tmp_path)
    man = json.loads(path.read_text())
    edit(man)
    path.write_text(json.dumps(man))
    code = _exit_code(["run", "--manifest", str(path), "--out", str(tmp_path / "replay")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0], err
    assert str(path) in err[0]
    assert not (tmp_path / "replay").exists() and not (tmp_path / "results").exists()


def test_a_format_1_replay_that_differs_does_not_blame_the_model():
    """Manifests written before the hash are still replayed, but a difference is not put on the
    model's determinism: the parameters may have been edited."""
    from experiments.outputs import git_state, package_version
    from experiments.run_cmd import _code_note

    now = git_state()
    same_code = {"version": package_version(), "git_commit": now["commit"], "git_dirty": False}
    assert "params_hash" in _code_note({**same_code, "format": 1})
    if not now["dirty"]:
        assert "not deterministic" in _code_note({**same_code, "format": 2, "params_hash": "x"})
