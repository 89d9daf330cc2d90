"""Safety (issue 8): no eval, exec or pickle on anything a user supplies; file paths from specs and
manifests stay inside the directories they name; the app server binds to loopback unless told
otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
import tokenize
from pathlib import Path

import pytest

from experiments.cli import COMMANDS, main
from model.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("model", "agents", "experiments", "viz")

#: calls that run code or rebuild objects from data
BANNED_CALLS = {"eval", "exec", "compile", "__import__"}
#: modules that rebuild arbitrary objects from bytes (or run a shell)
BANNED_MODULES = {"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "yaml"}
#: attribute calls that evaluate strings (pandas' DataFrame.eval / query, os.system, ...)
BANNED_ATTRS = {"eval", "query", "system", "popen", "load", "loads"}
#: ``x.load(...)``/``x.loads(...)`` are fine for these readers of data (not of objects)
SAFE_LOADERS = {"json", "tomllib"}


def _sources() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    assert len(files) > 20, "the scan found too few files: wrong root?"
    return files


def _offences(path: Path, root: Path = ROOT) -> list[str]:
    """Banned calls and imports in one file, found on Python tokens (not in strings/comments)."""
    text = path.read_text(encoding="utf-8")
    toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                              tokenize.DEDENT)]
    out = []
    rel = path.relative_to(root)
    uses_subprocess = any(t.type == tokenize.NAME and t.string == "subprocess" for t in toks)
    for i, t in enumerate(toks):
        nxt = toks[i + 1].string if i + 1 < len(toks) else ""
        prev = toks[i - 1].string if i > 0 else ""
        prev2 = toks[i - 2].string if i > 1 else ""
        where = f"{rel}:{t.start[0]}"
        if t.type != tokenize.NAME:
            continue
        if t.string in BANNED_CALLS and nxt == "(" and prev != ".":
            out.append(f"{where}: {t.string}(")
        if t.string in BANNED_MODULES and prev in ("import", "from", ","):
            out.append(f"{where}: import {t.string}")
        if prev == "." and nxt == "(" and t.string in BANNED_ATTRS:
            if t.string in ("load", "loads") and prev2 in SAFE_LOADERS:
                continue
            if t.string in ("load", "loads") and prev2 not in BANNED_MODULES:
                continue  # e.g. np.load is not used; json/tomllib above; others flagged by module
            out.append(f"{where}: .{t.string}(")
        if (t.string == "shell" and nxt == "=" and i + 2 < len(toks) and toks[i + 2].string == "True"
                and uses_subprocess):  # (place_order(..., shell=True) is a shell *company*)
            out.append(f"{where}: shell=True")
    return out


def test_no_eval_exec_or_pickle_in_the_sources():
    offences = [o for path in _sources() for o in _offences(path)]
    assert not offences, "code-running calls or object loaders in the sources:\n" + "\n".join(offences)


def test_the_scan_catches_what_it_is_for(tmp_path):
    bad = tmp_path / "model" / "bad.py"
    bad.parent.mkdir()
    bad.write_text("import pickle\nx = eval('1')\nexec('y = 1')\nimport pandas as pd\n"
                   "pd.DataFrame().eval('a + b')\nimport subprocess\n"
                   "subprocess.run('ls', shell=True)\n"
                   "# eval(in a comment) is fine\ns = 'exec(in a string) is fine'\n")
    found = _offences(bad, root=tmp_path)
    assert any("import pickle" in o for o in found)
    assert any("eval(" in o and ".eval" not in o for o in found)
    assert any("exec(" in o for o in found)
    assert any(".eval(" in o for o in found)
    assert any("shell=True" in o for o in found)
    assert len(found) == 5, found


def test_only_known_command_modules_are_imported(capsys):
    """The command word never names a module to import: only the COMMANDS table does."""
    for word in ("os", "experiments.run_cmd", "subprocess", "../x"):
        assert main([word]) == 2
        assert "unknown command" in capsys.readouterr().err
    assert all(mod.startswith(("experiments.", "viz.")) for mod, _ in COMMANDS.values())


# --------------------------------------------------------------------------------------------
# Paths from specs and manifests stay inside the directories they name
# --------------------------------------------------------------------------------------------
TINY_SPEC = """
[sweep]
name = "tiny"
base = "{base}"
design = "grid"
replications = 1
seed = 1
steps = 2

[parameters.packaging_multiplier]
values = [1.0]

[metrics]
series = ["spot_price"]
"""


def _scenario(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('extends = "baseline"\n[population]\nscale = 0.05\n')
    return path


def test_sweep_spec_base_path_cannot_climb_out_of_its_directory(tmp_path):
    from experiments.sweepspec import read_spec

    _scenario(tmp_path / "outside.toml")
    specs = tmp_path / "specs"
    spec = specs / "s.toml"
    specs.mkdir()
    for base in ("../outside.toml", "sub/../../outside.toml", "../../../../etc/passwd.toml"):
        spec.write_text(TINY_SPEC.format(base=base))
        with pytest.raises(InputError, match=r"\[sweep\] base = .* is not allowed; expected .*"
                                             r"inside the spec's directory"):
            read_spec(spec)
    # inside the spec's directory: resolved relative to the spec, not the working directory
    inner = _scenario(specs / "scen" / "small.toml")
    spec.write_text(TINY_SPEC.format(base="scen/small.toml"))
    assert read_spec(spec).base == str(inner.resolve())
    # an absolute path says where it goes and is taken as given
    spec.write_text(TINY_SPEC.format(base=str(tmp_path / "outside.toml")))
    assert read_spec(spec).base == str(tmp_path / "outside.toml")


def test_sweep_spec_traversal_through_the_cli(tmp_path, capsys):
    spec = tmp_path / "specs" / "s.toml"
    spec.parent.mkdir()
    _scenario(tmp_path / "outside.toml")
    spec.write_text(TINY_SPEC.format(base="../outside.toml"))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "sw"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "../outside.toml" in err and "inside the spec's directory" in err
    assert not (tmp_path / "sw").exists()


@pytest.mark.parametrize("bad_id", ["../../escaped", "/tmp/escaped", "0123456789abcdeg", 7, None])
def test_sweep_manifest_run_ids_cannot_name_paths(tmp_path, capsys, bad_id):
    """A sweep directory's manifest is data too: a run id that is not 16 hex digits is refused
    on resume instead of becoming a file path under runs/ and failures/."""
    spec = tmp_path / "s.toml"
    spec.write_text(TINY_SPEC.format(base="baseline"))
    out = tmp_path / "sw"
    assert main(["sweep", str(spec), "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    files_before = sorted(p for p in tmp_path.rglob("*"))
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["runs"][0]["run_id"] = bad_id
    (out / "manifest.json").write_text(json.dumps(manifest))
    for run in (out / "runs").glob("*.parquet"):
        run.unlink()  # so the resume has a run to do
    code = main(["sweep", "--resume", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "run_id" in err and "16 hex digits" in err and "Traceback" not in err
    new = sorted(set(tmp_path.rglob("*")) - set(files_before))
    assert all(p.resolve().is_relative_to(out.resolve()) for p in new), new
    assert not Path("/tmp/escaped.parquet").exists()


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/escaped", ".hidden", "a\\b"])
def test_replayed_manifest_scenario_name_cannot_name_a_path(tmp_path, capsys, monkeypatch, name):
    """`h100sim run --manifest M` without --out writes results/<scenario>-<seed>/: the scenario
    name read from the manifest must not climb out of results/."""
    monkeypatch.chdir(tmp_path)
    man = tmp_path / "m" / "manifest.json"
    man.parent.mkdir()
    man.write_text(json.dumps({"scenario": name, "seed": 0, "params": {}}))
    assert main(["run", "--manifest", str(man), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "scenario" in err and "not allowed" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


def test_run_outputs_stay_inside_out(tmp_path, capsys, monkeypatch):
    """`--out` is the user's choice (a '..' in it is resolved as the shell would); everything a
    run writes lands inside that directory, and its temporary directory is cleaned up."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    scen = _scenario(tmp_path / "small.toml")
    out = tmp_path / "a" / ".." / "b"
    assert main(["run", "--scenario", str(scen), "--set", "end=2022-12-05", "--out", str(out),
                 "--quiet"]) == 0
    capsys.readouterr()
    target = (tmp_path / "b").resolve()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != scen]
    assert written, "the run wrote nothing"
    assert all(p.resolve().is_relative_to(target) for p in written), written
    assert (target / "manifest.json").is_file() and (target / "series.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "small.toml"]
    assert not any((tmp_path / "a").iterdir())


# --------------------------------------------------------------------------------------------
# The app binds to loopback unless told otherwise
# --------------------------------------------------------------------------------------------
def test_app_defaults_to_loopback():
    from experiments import app_cmd as launch

    assert launch.DEFAULT_HOST == "127.0.0.1"
    parser = argparse.ArgumentParser()
    launch.configure(parser)
    args = parser.parse_args([])
    assert args.host == "127.0.0.1"
    assert launch.is_loopback(args.host)
    cmd = launch.solara_command(args.host, args.port)
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    # through the real CLI parser too
    from experiments.cli import _subparser, build_parser

    top = build_parser()
    launch.configure(_subparser(top, "app"))
    assert top.parse_args(["app"]).host == "127.0.0.1"
    assert top.parse_args(["app", "--host", "0.0.0.0"]).host == "0.0.0.0"
    assert not launch.is_loopback("0.0.0.0") and launch.is_loopback("::1")


def test_app_warns_when_told_to_listen_beyond_loopback(monkeypatch, capsys):
    from experiments import app_cmd as launch

    calls = {}

    class FakeProc:
        def wait(self, timeout=None):
            return 0

    monkeypatch.setattr(launch, "check_port", lambda host, port: None)
    monkeypatch.setattr(launch, "ensure_assets", lambda cache: None)
    def popen(cmd, env=None):
        calls["cmd"] = cmd
        return FakeProc()

    monkeypatch.setattr(launch.subprocess, "Popen", popen)
    assert main(["app", "--host", "0.0.0.0", "--port", "8999"]) == 0
    err = capsys.readouterr().err
    assert "not loopback" in err
    assert calls["cmd"][calls["cmd"].index("--host") + 1] == "0.0.0.0"
    assert main(["app", "--port", "8999"]) == 0
    err = capsys.readouterr().err
    assert "not loopback" not in err
    assert calls["cmd"][calls["cmd"].index("--host") + 1] == "127.0.0.1"
