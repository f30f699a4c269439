"""Download the metadata sheets (pinned, checksummed) and the image archive.

Downloads are resumable: bytes land in ``<file>.part`` and a later call continues with an
HTTP Range request. Files that are already present with the pinned checksum are not
fetched again, nor is an archive that has already been unpacked. When anything fails,
the error carries instructions for placing the files by hand, and nothing is left
behind but a ``.part`` file that holds bytes to resume from: no empty folder, no file
under its final name that is not the pinned one.

:func:`locate` is how tests and benchmarks find pinned data (the sheets, XSTest's
completions): folders that already hold it first, else the same download into the user
cache.
"""

from __future__ import annotations

import html
import re
import shutil
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urljoin

import httpx

from vscbench.data.layout import (
    IMAGE_DIR,
    IMAGES_URL,
    LOCAL_DATA_HINT,
    SHEET_FILES,
    SHEETS,
    TEXT_DIR,
    PinnedFiles,
    fetch_hint,
)
from vscbench.files import sha256_file
from vscbench.progress import OnProgress, Progress

ARCHIVE_NAME = "vscbench_images.archive"


class FetchError(RuntimeError):
    """A download or unpack failed; the message says how to finish by hand.

    ``cause`` is the failure alone, for callers that put their own advice first.
    """

    def __init__(self, cause: str, data_dir: Path | None = None) -> None:
        self.cause = cause
        super().__init__(cause if data_dir is None else f"{cause}\n\n{fetch_hint(data_dir)}")


@dataclass
class FetchReport:
    downloaded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _is_html(response: httpx.Response) -> bool:
    return "text/html" in response.headers.get("content-type", "")


def _drive_confirm_url(page: str, base: str) -> str | None:
    """The download URL behind Google Drive's "can't scan for viruses" page."""
    form = re.search(r'<form[^>]*action="([^"]+)"', page)
    if not form:
        return None
    params = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    action = urljoin(base, html.unescape(form.group(1)))
    return f"{action}?{urlencode(params)}" if params else action


def download(
    url: str,
    dest: Path,
    client: httpx.Client,
    sha256: str | None = None,
    progress: OnProgress | None = None,
    label: str | None = None,
) -> Path:
    """Fetch ``url`` to ``dest``, resuming a previous ``.part`` file if there is one."""
    label = label or dest.name
    part = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _download(url, dest, part, client, sha256, progress, label)
    finally:
        if part.is_file() and not part.stat().st_size:  # nothing to resume from
            part.unlink()


def _download(
    url: str,
    dest: Path,
    part: Path,
    client: httpx.Client,
    sha256: str | None,
    progress: OnProgress | None,
    label: str,
) -> Path:
    for _ in range(2):  # a second round only to follow Drive's confirmation page
        offset = part.stat().st_size if part.exists() else 0
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with client.stream("GET", url, headers=headers, follow_redirects=True) as response:
            if response.status_code == 416 and offset:
                break  # the .part file already holds everything
            if response.status_code >= 400:
                raise FetchError(f"{url}: HTTP {response.status_code}")
            if _is_html(response):
                page = response.read().decode("utf-8", "replace")
                next_url = _drive_confirm_url(page, str(response.url))
                if next_url is None:
                    raise FetchError(f"{url}: got a web page instead of the file")
                url = next_url
                continue
            mode = "ab" if response.status_code == 206 else "wb"
            done = offset if mode == "ab" else 0
            length = response.headers.get("content-length")
            total = done + int(length) if length else None
            with part.open(mode) as fh:
                for chunk in response.iter_bytes():  # unbuffered: keep every byte received
                    fh.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(Progress(done=done, total=total, label=label))
            if total is not None and done < total:
                raise FetchError(f"{url}: connection closed after {done} of {total} bytes")
            break
    else:
        raise FetchError(f"{url}: Google Drive did not hand out the file")
    if sha256 is not None:
        digest = sha256_file(part)
        if digest != sha256:
            part.unlink()
            raise FetchError(f"{url}: sha256 {digest} does not match the pinned {sha256}")
    part.replace(dest)
    return dest


def _images_present(data_dir: Path) -> bool:
    return all(
        (data_dir / d).is_dir() and any((data_dir / d).iterdir()) for d in (IMAGE_DIR, TEXT_DIR)
    )


def unpack_images(archive: Path, data_dir: Path) -> None:
    """Unpack a zip or tar archive and move the two image folders into ``data_dir``.

    The folders may sit anywhere inside the archive (archives often add a top folder).
    """
    staging = data_dir / ".unpack"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(staging)  # zipfile strips absolute and '..' parts
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(staging, filter="data")
        else:
            raise FetchError(f"{archive}: neither a zip nor a tar archive")
        for name in (IMAGE_DIR, TEXT_DIR):
            found = sorted(staging.rglob(name), key=lambda p: len(p.parts))
            found = [p for p in found if p.is_dir()]
            if not found:
                raise FetchError(f"{archive}: no folder named {name} inside")
            target = data_dir / name
            if target.exists():
                shutil.rmtree(target)
            shutil.move(str(found[0]), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _leave_no_trace(folder: Path) -> Iterator[None]:
    """On failure, remove the folders (``folder`` and its parents) that this call created
    and left empty, so that a failed first run leaves no empty cache behind."""
    created = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    try:
        yield
    except BaseException:
        for path in created:
            try:
                path.rmdir()
            except OSError:  # it holds something (a .part to resume from), or is gone
                break
        raise


@contextmanager
def _as_fetch_error(data_dir: Path | None = None) -> Iterator[None]:
    """Network and file errors as :class:`FetchError` (with the by-hand hint for
    ``data_dir``), saying where the failure happened."""
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ProxyError) as exc:  # say where
        cause = f"cannot reach {exc.request.url} ({exc or type(exc).__name__}); are you offline?"
        raise FetchError(cause, data_dir) from exc
    except httpx.TransportError as exc:  # the transfer broke off: what came is kept
        cause = (
            f"the download of {exc.request.url} broke off ({exc or type(exc).__name__}); "
            "run again to resume it"
        )
        raise FetchError(cause, data_dir) from exc
    except FetchError as exc:
        raise FetchError(exc.cause, data_dir) from exc
    except (httpx.HTTPError, OSError) as exc:
        raise FetchError(str(exc), data_dir) from exc


def fetch_pinned(
    pinned: PinnedFiles,
    folder: Path,
    client: httpx.Client,
    base: str | None = None,
    force: bool = False,
    progress: OnProgress | None = None,
) -> FetchReport:
    """Download each pinned file that ``folder`` lacks or holds with another checksum,
    from ``base`` (default: ``pinned.base``)."""
    report = FetchReport()
    base = (base or pinned.base).rstrip("/")
    for name, sha256 in pinned.files.items():
        dest = folder / name
        if not force and dest.is_file() and sha256_file(dest) == sha256:
            report.skipped.append(name)
            continue
        download(f"{base}/{name}", dest, client, sha256, progress)
        report.downloaded.append(name)
    return report


def fetch(
    data_dir: Path,
    sheets_base: str | None = None,
    images_url: str = IMAGES_URL,
    images: bool = True,
    force: bool = False,
    progress: OnProgress | None = None,
    timeout: float = 60.0,
) -> FetchReport:
    """Bring ``data_dir`` to the release's state, doing only what is missing.

    ``sheets_base`` defaults to ``$VSCBENCH_DATA_BASE_URL``, else the pinned upstream commit.
    """
    with (
        _as_fetch_error(data_dir),
        _leave_no_trace(data_dir),
        httpx.Client(timeout=timeout) as client,
    ):
        report = fetch_pinned(SHEET_FILES, data_dir, client, sheets_base, force, progress)
        if not images:
            return report
        if not force and _images_present(data_dir):
            report.skipped.append("images")
            return report
        archive = data_dir / ARCHIVE_NAME
        download(images_url, archive, client, None, progress, "images")
        unpack_images(archive, data_dir)
        archive.unlink()
        report.downloaded.append("images")
    return report


# --- finding pinned data: folders that hold it, else the download ---------------------


class DataNotFound(RuntimeError):
    """No folder holds the files and they cannot be downloaded. The message is one line:
    what is missing, why, and every way to provide it."""


@dataclass(frozen=True)
class Place:
    """A folder that may already hold the files, and how a user provides it (``how``).

    ``named``: the user chose it (a variable), so it must hold the files; a typo then
    stops with its name instead of falling through to a download.
    """

    how: str
    path: Path | None
    named: bool = False


def locate(
    pinned: PinnedFiles,
    places: Sequence[Place],
    cache: Path,
    timeout: float = 60.0,
    progress: OnProgress | None = None,
) -> Path:
    """The first of ``places`` that holds every pinned file; else ``cache``, after
    downloading (checksummed, resumably) what it lacks.

    Raises :class:`DataNotFound` when neither works; a failed download leaves no empty
    folder in the cache.
    """
    for place in places:
        if place.path is None:
            continue
        missing = pinned.missing(place.path)
        if not missing:
            return place.path
        if place.named:
            raise DataNotFound(
                f"{pinned.what}: {place.path} (from {place.how}) lacks {', '.join(missing)}; "
                "point it at the folder that holds them, or unset it"
            )
    try:
        with (
            _as_fetch_error(),
            _leave_no_trace(cache),
            httpx.Client(timeout=timeout) as client,
        ):
            fetch_pinned(pinned, cache, client, progress=progress)
    except FetchError as exc:
        ways = [f"({n}) {p.how}" for n, p in enumerate(places, 1)]
        ways.append(
            f"({len(ways) + 1}) a connection to {pinned.base}, to download them into {cache} "
            f"(or {pinned.base_env}=URL of a mirror)"
        )
        raise DataNotFound(
            f"{pinned.what} not found and the download failed ({exc.cause}). "
            f"Provide them one of {len(ways)} ways: {'; '.join(ways)}."
        ) from None
    return cache


def ensure_sheets(root: Path, splits: Sequence[str], notify: Callable[[str], None]) -> None:
    """Fetch missing metadata sheets (small, pinned) so a first run needs no extra step.

    ``notify`` hears, before anything is downloaded, that the sheets are being fetched.
    """
    if all((root / SHEETS[s].name).is_file() for s in splits):
        return
    notify(
        f"metadata sheets not in {root}; fetching them (images are not fetched: "
        "`vscbench data fetch`)"
    )
    try:
        fetch(root, images=False)
    except FetchError as exc:
        raise FetchError(
            f"the metadata sheets are not in {root} and could not be downloaded.\n"
            f"{LOCAL_DATA_HINT}\nThe download failed: {exc.cause}\n\n"
            + fetch_hint(root, local=False)
        ) from None
