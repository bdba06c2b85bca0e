"""`hms download`: the competition zip through the official Kaggle API, then a safe, resumable unzip.

Credentials are looked for before the `kaggle` package is imported: importing it authenticates at once
and, without credentials, prints a page of help and swallows the failure."""

from __future__ import annotations

import json
import logging
import os
import shutil
import zipfile
from pathlib import Path
from typing import Mapping

from tqdm.auto import tqdm

from hms.kaggle import COMPETITION, RULES_URL, KaggleError

log = logging.getLogger(__name__)

NO_CREDENTIALS = ("no Kaggle credentials: save your API token as ~/.kaggle/kaggle.json (kaggle.com > Settings > API > "
                  "Create New Token, then chmod 600 it) or set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN), "
                  f"and accept the competition rules at {RULES_URL}")


def find_credentials(env: Mapping[str, str] | None = None, home: Path | None = None) -> str | None:
    """Where the Kaggle API will find credentials (a description), or None. Follows the kaggle package's
    search: KAGGLE_USERNAME+KAGGLE_KEY, KAGGLE_API_TOKEN, kaggle.json in KAGGLE_CONFIG_DIR or ~/.kaggle or
    $XDG_CONFIG_HOME/kaggle, ~/.kaggle/access_token, and the OAuth login of `kaggle auth login`."""
    env = os.environ if env is None else env
    home = Path.home() if home is None else home
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY"):
        return "KAGGLE_USERNAME/KAGGLE_KEY"
    if env.get("KAGGLE_API_TOKEN"):
        return "KAGGLE_API_TOKEN"
    if env.get("KAGGLE_CONFIG_DIR"):
        config_dirs = [Path(env["KAGGLE_CONFIG_DIR"])]
    else:
        config_dirs = [home / ".kaggle", Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "kaggle"]
    for config_dir in config_dirs:
        path = config_dir / "kaggle.json"
        if path.is_file():
            try:
                token = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise KaggleError(f"{path}: not readable as JSON ({exc}); download a new token at "
                                  "kaggle.com > Settings > API > Create New Token") from None
            if not (isinstance(token, dict) and token.get("username") and token.get("key")):
                raise KaggleError(f'{path}: expected {{"username": ..., "key": ...}}; download a new token at '
                                  "kaggle.com > Settings > API > Create New Token")
            return str(path)
    for name in ("access_token", "access_token.txt", "credentials.json"):
        if (home / ".kaggle" / name).is_file():
            return str(home / ".kaggle" / name)
    return None


def fetch_zip(competition: str, dest: Path, credentials: str) -> Path:
    """Download `competition`'s data zip into `dest` with the Kaggle API (resumes a partial file)."""
    try:
        import requests
        from kaggle.api.kaggle_api_extended import KaggleApi
    except ImportError:
        raise KaggleError("the Kaggle API is not installed: pip install 'hms[kaggle]' (or pip install kaggle)") from None
    api = KaggleApi()
    try:
        api.authenticate()
    except SystemExit:  # the kaggle package exits after printing its help
        raise KaggleError(f"the Kaggle API did not accept the credentials in {credentials}: create a new token at "
                          "kaggle.com > Settings > API") from None
    log.info("downloading %s into %s (about 20 GB; an interrupted download resumes)", competition, dest)
    try:
        api.competition_download_files(competition, path=str(dest), quiet=False)
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status == 403:
            raise KaggleError(f"Kaggle refused the download (403 Forbidden): accept the competition rules at {RULES_URL} "
                              f"with the account of {credentials}, then rerun") from None
        if status == 401:
            raise KaggleError(f"Kaggle rejected the credentials in {credentials} (401): create a new token at "
                              "kaggle.com > Settings > API") from None
        if status == 404:
            raise KaggleError(f"no competition {competition!r} on Kaggle (404)") from None
        raise KaggleError(f"Kaggle API error: {exc}") from None
    except requests.ConnectionError as exc:
        raise KaggleError(f"cannot reach kaggle.com ({type(exc).__name__}): check the network, or download "
                          f"{competition}.zip in a browser and run `hms download DIR --zip FILE`") from None
    path = dest / f"{competition}.zip"
    if not path.is_file():
        raise KaggleError(f"the Kaggle API returned but {path} is missing")
    return path


def _gb(n: int) -> str:
    return f"{n / 1e9:.1f}"


def extract(zip_path: Path, dest: Path) -> tuple[int, int]:
    """Unpack `zip_path` into `dest`; returns (files written, files already there). A file counts as
    there when it has the archive's size: each file is written to NAME.part and renamed when complete,
    so a killed unzip resumes where it stopped. Members that would land outside `dest` are refused."""
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            targets = []
            for m in members:
                target = (root / m.filename).resolve()
                if not target.is_relative_to(root):
                    raise KaggleError(f"{zip_path}: member {m.filename!r} would be written outside {dest}; "
                                      "refusing the archive")
                targets.append(target)
            names = {m.filename for m in members}
            if "train.csv" not in names and "test.csv" not in names:
                raise KaggleError(f"{zip_path}: no train.csv or test.csv at the top of the archive (found "
                                  f"{', '.join(sorted(names)[:3]) or 'nothing'}); expected the {COMPETITION} zip")
            todo = [(m, t) for m, t in zip(members, targets) if not (t.is_file() and t.stat().st_size == m.file_size)]
            need = sum(m.file_size for m, _ in todo)
            free = shutil.disk_usage(root).free
            if need > free:
                raise KaggleError(f"unpacking {zip_path} needs {_gb(need)} GB in {dest} but {_gb(free)} GB are free: "
                                  "free some space or choose another directory")
            with tqdm(total=need, unit="B", unit_scale=True, desc="unzip", mininterval=1.0) as bar:
                for member, target in todo:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    part = target.with_name(target.name + ".part")
                    with archive.open(member) as src, open(part, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                            bar.update(len(chunk))
                    os.replace(part, target)
    except zipfile.BadZipFile as exc:
        raise KaggleError(f"{zip_path}: damaged or incomplete zip ({exc}); delete it and download again") from None
    return len(todo), len(members) - len(todo)


DONE_MARKER = ".hms-download.json"


def download(dest: Path, zip_file: Path | None = None, keep_zip: bool = False,
             competition: str = COMPETITION, force: bool = False) -> Path:
    """Fetch (unless `zip_file` is given) and unpack the competition data into `dest`. A zip that this
    function downloaded is deleted after a complete unpack unless `keep_zip`; a given one never is.
    A complete unpack leaves DONE_MARKER, so a rerun does not download 20 GB again (unless `force`)."""
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / DONE_MARKER
    if zip_file is None and marker.is_file() and not force:
        log.info("%s already holds the unpacked %s (%s); --force downloads it again", dest, competition, marker.name)
        return dest
    downloaded = zip_file is None
    if zip_file is None:
        credentials = find_credentials()
        if credentials is None:
            raise KaggleError(NO_CREDENTIALS)
        zip_file = fetch_zip(competition, dest, credentials)
    elif not zip_file.is_file():
        raise KaggleError(f"{zip_file}: no such file")
    written, kept = extract(zip_file, dest)
    log.info("%s: %d files unpacked into %s (%d already there)", zip_file.name, written, dest, kept)
    marker.write_text(json.dumps({"competition": competition, "zip": zip_file.name, "files": written + kept}) + "\n")
    if downloaded and not keep_zip:
        zip_file.unlink()
    return dest
