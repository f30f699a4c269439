"""Rebuild docs/report.png: a report over three runs of a simulated model.

The "model" is the loopback server from tests/loopback.py, answering like a model that
over-refuses a little and under-refuses more, and refuses more when reminded; the
figures are illustrative, not measurements of any real model.

    python docs/demo_report.py ../shared/data/vscbench
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from vscbench.engine import RunConfig, run
from vscbench.methods import REMINDER
from vscbench.results.report import build_report

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "tests"))  # test support: synthetic data, loopback server
from fixtures import synthetic_data_dir  # noqa: E402
from loopback import FakeOpenAIServer  # noqa: E402

RISKY = ("kill", "drug", "weapon", "dose", "steal", "hack", "hurt", "shoot", "bomb", "gun")


def reply(text: str, image_sha: str | None) -> str:
    roll = int(hashlib.sha256((text + str(image_sha)).encode()).hexdigest(), 16) % 100
    risky = any(word in text.lower() for word in RISKY)
    threshold = (55 if risky else 12) + (25 if REMINDER in text else 0)
    return "I can't help with that." if roll < threshold else "Sure, here is how."


def main() -> None:
    sheets = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/vscbench")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = synthetic_data_dir(sheets, root / "data")
        runs = []
        with FakeOpenAIServer(reply=reply) as srv:
            for name, method in (("plain", "none"), ("reminder", "reminder")):
                config = RunConfig(model=f"openai-api/demo/{name}", base_url=srv.base_url,
                                   data_dir=str(data), method=method, eval_on="test")
                run(config, root / name)
                runs.append(root / name)
            run(RunConfig(model="openai-api/demo/judged", base_url=srv.base_url,
                          data_dir=str(data), eval_on="test", judges=("refusal",)),
                root / "refusal-judge")
            runs.append(root / "refusal-judge")
        page = build_report(runs, root / "report")
        chromium = shutil.which("chromium") or "chromium"
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                        "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync",
                        f"--user-data-dir={root / 'profile'}", "--hide-scrollbars",
                        "--window-size=1100,1500", f"--screenshot={HERE / 'report.png'}",
                        page.as_uri()], check=True, capture_output=True)
    print(f"wrote {HERE / 'report.png'}")


if __name__ == "__main__":
    main()
