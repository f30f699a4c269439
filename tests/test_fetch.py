"""Downloads against a real HTTP server on loopback: checksums, resume, Drive's page."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import pytest
from conftest import Files
from typer.testing import CliRunner

from vscbench.cli import app
from vscbench.data.fetch import FetchError, fetch
from vscbench.data.layout import IMAGE_DIR, IMAGE_SHEET, TEXT_DIR, TEXT_SHEET


def _archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(f"VSCBench/{IMAGE_DIR}/drugs/safe_drugs_0_0.png", b"img")
        zf.writestr(f"VSCBench/{TEXT_DIR}/search/d_0_3.png", b"photo")
    return buffer.getvalue()


def test_fetch_sheets_and_images(tmp_path: Path, files_server: str) -> None:
    Files.files["/drive"] = _archive()
    Files.drive_page = True  # Drive first answers with its "can't scan" page
    report = fetch(tmp_path, files_server, f"{files_server}/drive")
    assert report.downloaded == [IMAGE_SHEET, TEXT_SHEET, "images"]
    assert (tmp_path / IMAGE_DIR / "drugs" / "safe_drugs_0_0.png").read_bytes() == b"img"
    assert (tmp_path / TEXT_DIR / "search" / "d_0_3.png").is_file()
    assert not list(tmp_path.glob("*.part")) and not (tmp_path / ".unpack").exists()
    # a second call downloads nothing
    Files.log.clear()
    assert fetch(tmp_path, files_server, f"{files_server}/drive").downloaded == []
    assert Files.log == []


def test_interrupted_download_resumes_with_range(tmp_path: Path, files_server: str) -> None:
    Files.cut[f"/{TEXT_SHEET}"] = 5000
    with pytest.raises(FetchError, match="5000 bytes"):
        fetch(tmp_path, files_server, images=False)
    assert (tmp_path / f"{TEXT_SHEET}.part").stat().st_size == 5000
    fetch(tmp_path, files_server, images=False)
    assert (f"/{TEXT_SHEET}", "bytes=5000-") in Files.log
    assert (tmp_path / TEXT_SHEET).read_bytes() == Files.files[f"/{TEXT_SHEET}"]


def test_checksum_mismatch_is_refused_with_hint(tmp_path: Path, files_server: str) -> None:
    Files.files[f"/{IMAGE_SHEET}"] = b"tampered"
    with pytest.raises(FetchError) as info:
        fetch(tmp_path, files_server, images=False)
    message = str(info.value)
    assert "does not match the pinned" in message and "by hand" in message
    assert not (tmp_path / IMAGE_SHEET).exists() and not (tmp_path / f"{IMAGE_SHEET}.part").exists()


def test_cli_fetch_failure_tells_where_to_put_files(tmp_path: Path, files_server: str) -> None:
    result = CliRunner().invoke(
        app,
        [
            "data",
            "fetch",
            "--data-dir",
            str(tmp_path),
            "--sheets-url",
            files_server,
            "--images-url",
            f"{files_server}/nothing",
        ],
    )
    assert result.exit_code == 1
    assert "HTTP 404" in result.output and str(tmp_path / IMAGE_DIR) in result.output
    # the sheets it did get are kept, so the retry only needs the images
    assert (tmp_path / IMAGE_SHEET).is_file()


def test_verify_cli_exit_codes(data_dir: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["data", "verify", "--data-dir", str(data_dir)])
    assert ok.exit_code == 0, ok.output
    assert "empty_prompt 2" in ok.output and "renderable 1350" in ok.output
    shutil.rmtree(data_dir / TEXT_DIR / "search")
    (data_dir / IMAGE_DIR / "drugs" / "safe_drugs_0_0.png").write_bytes(b"broken")
    bad = runner.invoke(app, ["data", "verify", "--data-dir", str(data_dir)])
    assert bad.exit_code == 1
    assert "unreadable_image 1" in bad.output and "missing_image 900" in bad.output
    # text-only variants that are rendered still verify fine without any photo
    part = runner.invoke(
        app,
        [
            "data",
            "verify",
            "--data-dir",
            str(data_dir),
            "--split",
            "text",
            "--variants",
            "txt,typography,figstep",
        ],
    )
    assert part.exit_code == 0, part.output
