"""Fill Solara's asset proxy cache from the npm registry, for a machine without CDN access.

The Solara server serves its JavaScript and CSS from ``/_solara/cdn/<package>@<version>/<file>``,
which it proxies from a CDN and caches in ``SOLARA_ASSETS_PROXY_CACHE_DIR``. Offline, the page
stays blank unless that cache already holds every file. The CDN's ``/npm/`` paths are the files
of the npm package tarball, so ``npm pack SPEC`` and untarring it (without the leading
``package/``) into ``DIR/SPEC`` gives exactly the cache layout.

Usage (the Makefile's ``assets`` target)::

    python -m viz.assets --cache-dir .cache/solara-assets

Idempotent: a spec whose folder is already complete is skipped, and ``DIR/.complete`` (listing
the specs) is written last, when everything is there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

#: What solara 1.64.1 itself requests through the proxy for SolaraViz with matplotlib and Altair
#: plots (shared/RECIPES.md): the app bundle and its CSS/fonts, requirejs, font-awesome, the grid
#: layout of SolaraViz's components, and the vega stack that ``solara.FigureAltair``'s widget
#: (solara/widgets/vue/vegalite.vue) loads as ``vega@5``, ``vega-lite@5`` and ``vega-embed@6``.
SOLARA_SPECS: tuple[str, ...] = (
    "@widgetti/solara-vuetify-app@10.1.1",
    "requirejs@2.3.6",
    "font-awesome@4.5.0",
    "@widgetti/vue-grid-layout@2.3.13-alpha.2",
    "vega@5",
    "vega-lite@5",
    "vega-embed@6",
)

#: Marker written inside each spec folder once its tarball is fully unpacked.
SPEC_MARKER = ".npm-pack-complete"
#: Marker written in the cache folder once every spec is there (the Makefile's stamp).
COMPLETE = ".complete"


class AssetError(RuntimeError):
    """A spec could not be fetched or unpacked."""


def altair_specs() -> list[str]:
    """The vega stack that the installed Altair names in its own HTML output.

    Altair 6 asks for ``vega@6``, ``vega-lite@<its schema version>`` and ``vega-embed@7``
    (``altair.vegalite.v6.display``). Solara's widget does not use these, but a chart shown
    through Altair's own HTML renderer, or a later Solara that follows Altair, does.
    """
    try:
        from altair.vegalite.v6 import display
    except ImportError:  # altair not installed or a different major: nothing to add
        return []
    return [
        f"vega@{display.VEGA_VERSION}",
        f"vega-lite@{display.VEGALITE_VERSION}",
        f"vega-embed@{display.VEGAEMBED_VERSION}",
    ]


def all_specs() -> list[str]:
    specs = list(SOLARA_SPECS)
    for spec in altair_specs():
        if spec not in specs:
            specs.append(spec)
    return specs


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError(
            "npm is not installed; it is needed once to fetch the app's JavaScript from the npm "
            "registry (Debian: apt-get install -y npm)"
        )
    return npm


def _safe_extract(tar: tarfile.TarFile, dest: Path) -> None:
    """Extract ``package/...`` members into ``dest``, dropping the first path component."""
    dest_resolved = dest.resolve()
    for member in tar.getmembers():
        parts = Path(member.name).parts
        if len(parts) < 2 or not (member.isfile() or member.isdir()):
            continue  # the top folder itself; links and devices have no place in a web asset
        rel = Path(*parts[1:])
        target = (dest / rel).resolve()
        if not str(target).startswith(str(dest_resolved) + os.sep):
            raise AssetError(f"refusing to extract {member.name!r} outside {dest}")
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        src = tar.extractfile(member)
        if src is None:
            raise AssetError(f"cannot read {member.name!r} from the tarball")
        with src, open(target, "wb") as out:
            shutil.copyfileobj(src, out)


def fetch_spec(spec: str, cache_dir: Path, npm: str, timeout: float = 300.0) -> bool:
    """Make ``cache_dir/spec`` hold the package's files. Returns False if it already did."""
    dest = cache_dir / spec
    if (dest / SPEC_MARKER).is_file():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="npm-pack-", dir=cache_dir) as tmp:
        tmp_path = Path(tmp)
        cmd = [npm, "pack", spec, "--json", "--ignore-scripts", "--pack-destination", str(tmp_path)]
        try:
            proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True,
                                  timeout=timeout, check=False)
        except subprocess.TimeoutExpired as err:
            raise AssetError(f"'npm pack {spec}' timed out after {timeout:.0f} s") from err
        if proc.returncode != 0:
            raise AssetError(f"'npm pack {spec}' failed (exit {proc.returncode}):\n"
                             f"{proc.stderr.strip() or proc.stdout.strip()}")
        tarballs = sorted(tmp_path.glob("*.tgz"))
        if len(tarballs) != 1:
            raise AssetError(f"'npm pack {spec}' left {len(tarballs)} tarballs, expected 1")
        resolved = ""
        try:
            info = json.loads(proc.stdout)
            resolved = f"{info[0]['name']}@{info[0]['version']}"
        except (ValueError, LookupError, TypeError):
            pass
        staging = tmp_path / "unpacked"
        staging.mkdir()
        try:
            with tarfile.open(tarballs[0], "r:gz") as tar:
                _safe_extract(tar, staging)
        except (tarfile.TarError, OSError) as err:
            raise AssetError(f"cannot unpack the tarball of {spec}: {err}") from err
        if not any(staging.iterdir()):
            raise AssetError(f"the tarball of {spec} is empty")
        (staging / SPEC_MARKER).write_text(resolved + "\n")
        if dest.exists():  # a half-finished earlier attempt
            shutil.rmtree(dest)
        os.replace(staging, dest)
    return True


def fill_cache(cache_dir: Path, specs: list[str] | None = None, log=print) -> list[str]:
    """Fetch every spec into ``cache_dir`` and write ``cache_dir/.complete``."""
    specs = all_specs() if specs is None else specs
    cache_dir = cache_dir.resolve()
    cache_dir.mkdir(parents=True, exist_ok=True)
    stamp = cache_dir / COMPLETE
    if stamp.is_file() and stamp.read_text().split() == specs and all(
        (cache_dir / s / SPEC_MARKER).is_file() for s in specs
    ):
        log(f"assets: {len(specs)} packages already in {cache_dir}")
        return specs
    stamp.unlink(missing_ok=True)
    npm = _npm()
    for spec in specs:
        if fetch_spec(spec, cache_dir, npm):
            version = (cache_dir / spec / SPEC_MARKER).read_text().strip()
            log(f"assets: fetched {spec}" + (f" ({version})" if version else ""))
        else:
            log(f"assets: {spec} already there")
    stamp.write_text("\n".join(specs) + "\n")
    return specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m viz.assets",
        description="Fill Solara's asset proxy cache from the npm registry (offline app).",
    )
    parser.add_argument("--cache-dir", required=True, type=Path,
                        help="the folder that SOLARA_ASSETS_PROXY_CACHE_DIR points at")
    parser.add_argument("--list", action="store_true", help="print the specs and exit")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(all_specs()))
        return 0
    try:
        fill_cache(args.cache_dir)
    except AssetError as err:
        print(f"viz.assets: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
