"""Plug-in methods: one registry for built-ins, entry points and modules on the path."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from conftest import API_KEY_VAR, flags, inspect_eval
from loopback import FakeOpenAIServer
from typer.testing import CliRunner

from vscbench.commands import app
from vscbench.engine import RunConfig, load_config, run, score
from vscbench.plugins import MethodError, available, bind, parse, resolve
from vscbench.results.store import RunDirError

MODEL = "openai-api/fake/vlm"

PLUGIN = """
from pathlib import Path
from vscbench.chat import Turn, ask


class Hedge:
    name = "hedge"
    version = "{version}"
    description = "a prefix before every prompt"

    def __init__(self, prefix: str = "Think first.", times: int = 1) -> None:
        self.prefix = " ".join([prefix] * times)

    async def prepare(self, setup):
        setup.state.write_text('{{"prepared": true}}')

    async def respond(self, item, image, generate, trace):
        trace["prefix"] = self.prefix
        return await generate(ask(self.prefix + " " + item.prompt, image))


class NoRespond:
    name = "broken"
    version = "1"
    description = "lacks respond"

    async def prepare(self, setup):
        return None
"""


@pytest.fixture()
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A module ``my_hedge`` on the path, and a package whose entry point fails to import."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "my_hedge.py").write_text(PLUGIN.format(version="1"))
    info = root / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[vscbench.methods]\nbroken-one = no_such_module_xyz:Method\n"
    )
    monkeypatch.syspath_prepend(str(root))
    yield root
    sys.modules.pop("my_hedge", None)


def test_one_grammar_for_every_spec() -> None:
    assert parse("few-shot:3").name == "few-shot" and parse("few-shot:3").positional == "3"
    assert parse("pkg.mod:Name?a=1&b=x").name == "pkg.mod:Name"
    assert parse("pkg.mod:Name?a=1&b=x").params == {"a": "1", "b": "x"}
    assert resolve("few-shot:3")[1] == {"k": 3} == resolve("few-shot?k=3")[1]
    for spec, words in (
        ("cot", "unknown method 'cot'"),
        ("few-shot:0", "parameter k='0'"),
        ("reminder:2", "2: cannot read"),  # reminder's one parameter is a file
        ("none:2", "takes no parameters"),
        ("self-check?x=1", "unknown parameter"),
        ("no_such_pkg_abc.mod:Thing", "module no_such_pkg_abc.mod does not import"),
        ("vscbench.methods:Nope", "has no Nope"),
    ):
        with pytest.raises(MethodError, match=words) as caught:
            resolve(spec) if spec != "reminder:2" else bind(spec)
        assert "\n" not in str(caught.value)


def test_builtins_have_identities_with_versions(tmp_path: Path) -> None:
    text = tmp_path / "r.txt"
    text.write_text("Be careful.")
    for spec in ("none", "reminder", "few-shot:2", "self-check"):
        assert bind(spec).identity()["name"] == spec.split(":")[0]
    # few-shot is versioned; the older built-ins keep the identity their runs recorded
    assert bind("few-shot:2").identity() == {
        "name": "few-shot",
        "version": "1",
        "params": {"k": 2},
        "inputs": {"refusal": bind("few-shot").identity()["inputs"]["refusal"]},
    }
    custom = bind(f"reminder?file={text}").identity()
    assert custom["text_sha256"] != bind("reminder").identity()["text_sha256"]
    with pytest.raises(MethodError, match="learns from the calibration side"):
        bind("few-shot:2", eval_on="all")


def test_a_module_on_the_path_runs_and_its_version_is_part_of_the_identity(
    plugin_dir: Path, full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    spec = "my_hedge:Hedge?prefix=Careful.&times=2"

    def config() -> RunConfig:
        return RunConfig(
            model=MODEL,
            base_url=srv.base_url,
            data_dir=str(full_data_dir),
            splits=("image",),
            limit=3,
            method=spec,
        )

    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        result = run(config(), tmp_path / "run")
        assert srv.requests and all(r.text.startswith("Careful. Careful. ") for r in srv.requests)
    assert json.loads((tmp_path / "run" / "method_state.json").read_text()) == {"prepared": True}
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["identity"]["method"] == {
        "name": "hedge",
        "version": "1",
        "params": {"prefix": "Careful.", "times": 2},
        "inputs": {},
    }
    assert result.metrics["counts"]["records"] == 3
    (plugin_dir / "my_hedge.py").write_text(PLUGIN.format(version="2"))
    sys.modules.pop("my_hedge")
    changed = 'method.version: "1" -> "2"'
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv, pytest.raises(RunDirError) as no:
        run(config(), tmp_path / "run")
    assert changed in str(no.value)
    # where the plug-in is not installed, the run's answers can still be scored
    (plugin_dir / "my_hedge.py").unlink()
    sys.modules.pop("my_hedge", None)
    rescored = score(tmp_path / "run", ["prefix"])
    assert rescored.metrics["counts"]["records"] == 3
    with pytest.raises(RunDirError, match="module my_hedge does not import"):
        load_config(tmp_path / "run")  # running it again needs the method


def test_cli_errors_are_one_line(plugin_dir: Path, full_data_dir: Path, tmp_path: Path) -> None:
    for spec, words in (
        ("cot", "unknown method 'cot'"),
        ("my_hedge:NoRespond", "lacks respond"),
        ("my_hedge:Hedge?color=red", "unknown parameter(s) color; it takes: prefix, times"),
        ("no_such_module_xyz:Method", "does not import"),
    ):
        result = CliRunner().invoke(
            app,
            [
                "run",
                *flags(model="mockllm/model", data_dir=full_data_dir, method=spec),
                *flags(out=tmp_path / "r"),
            ],
        )
        assert result.exit_code == 2, result.output
        assert words in result.output and "Traceback" not in result.output, result.output
    assert not (tmp_path / "r").exists()


def test_methods_lists_builtins_entry_points_and_failures(plugin_dir: Path) -> None:
    rows = {f.name: f for f in available()}
    assert {"none", "reminder", "few-shot", "self-check"} <= set(rows)
    assert rows["few-shot"].parameters == "k=1" and rows["few-shot"].origin == "built-in"
    broken = rows["broken-one"]
    assert "does not import" in (broken.error or "") and "broken-plugin" in broken.origin
    result = CliRunner().invoke(app, ["methods"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "self-check" in result.output and "cannot load" in result.output


def test_a_plugin_in_a_sweep_with_utility_in_the_report_and_in_inspect(
    plugin_dir: Path, full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    vqa = tmp_path / "vqa.csv"
    vqa.write_text("image,question,answer\n,What is 2 + 2?,4\n")
    spec = "my_hedge:Hedge?prefix=Careful."
    with FakeOpenAIServer(reply=lambda t, i: "4") as srv:
        plan = tmp_path / "plan.yaml"
        plan.write_text(
            yaml.safe_dump(
                {
                    "out": "sweep",
                    "data_dir": str(full_data_dir),
                    "models": [MODEL],
                    "methods": ["none", spec],
                    "run": {"splits": ["image"], "limit": 3, "base_url": srv.base_url},
                    "utility": {"vqa": str(vqa)},
                }
            )
        )
        result = CliRunner().invoke(app, ["sweep", str(plan)])
        assert result.exit_code == 0, result.output
        cell = tmp_path / "sweep" / "openai-api-fake-vlm__my_hedge-Hedge-prefix-Careful."
        utility = json.loads((cell / "utility.json").read_text())
        assert utility["method_label"] == "hedge 1 ?prefix=Careful." and utility["score"] == 1
        hedged = [r for r in srv.requests if r.text.startswith("Careful. ")]
        assert len(hedged) == 3 + 1  # three pairs and the utility row, none of the others
        report = CliRunner().invoke(
            app,
            [
                "report",
                str(tmp_path / "sweep" / "openai-api-fake-vlm__none"),
                str(cell),
                "--out",
                str(tmp_path / "report"),
            ],
        )
        assert report.exit_code == 0, report.output
        assert "hedge 1 ?prefix=Careful." in (tmp_path / "report" / "index.html").read_text()

        srv.requests.clear()
        done = inspect_eval(
            "vscbench/image_centric",
            MODEL,
            tmp_path / "logs",
            "-T",
            f"data_dir={full_data_dir}",
            "-T",
            "categories=drugs",
            "-T",
            f"method={spec}",
            "--limit",
            "4",
            "--model-base-url",
            srv.base_url,
            env={API_KEY_VAR: api_key, "PYTHONPATH": str(plugin_dir)},
        )
        assert done.returncode == 0, done.stderr
    assert len(srv.requests) == 4 and all(r.text.startswith("Careful. ") for r in srv.requests)
    from inspect_ai.log import list_eval_logs, read_eval_log

    log = read_eval_log(list_eval_logs(str(tmp_path / "logs"))[0])
    assert log.status == "success" and len(log.samples) == 4
    assert all(s.metadata["method_trace"] == {"prefix": "Careful."} for s in log.samples)


def test_the_readme_example_method_runs(
    full_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_key: str
) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Evaluate your own method", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "readme_methods.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        result = CliRunner().invoke(
            app,
            [
                "run",
                *flags(model=MODEL, base_url=srv.base_url, data_dir=full_data_dir, split="image"),
                *flags(limit=2, method="readme_methods:Persona?persona=a nurse"),
                *flags(out=tmp_path / "r"),
            ],
        )
        assert result.exit_code == 0, result.output
        assert srv.requests and all(r.text.startswith("You are a nurse.") for r in srv.requests)
    sys.modules.pop("readme_methods", None)


def test_steer_is_a_builtin_intervention_of_the_registry() -> None:
    """The built-in steering is loaded, listed, checked and refused like any plug-in."""
    from vscbench.models.steering import Steer

    rows = {f.name: f for f in available()}
    steer = rows["steer"]
    assert (steer.origin, steer.level) == ("built-in", "activation")
    assert steer.parameters == "vectors, alpha=1.0, layers=(), gate=None"
    cls, params = resolve("steer:v.pt?alpha=2&layers=1,3")
    assert cls is Steer and params == {"vectors": Path("v.pt"), "alpha": 2.0, "layers": (1, 3)}
    assert RunConfig(model=MODEL, steer="v.pt", alpha=2).method == "steer?vectors=v.pt&alpha=2"
    with pytest.raises(MethodError, match="needs a local model"):
        bind("steer:v.pt", local=False)
    with pytest.raises(MethodError, match="no such file; make one with `vscbench steer fit`"):
        bind("steer:no-such-vectors.pt", local=True)


@pytest.fixture()
def driver_only_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A method module on the driver's ``sys.path`` only (Ray workers do not inherit it),
    and a Ray instance of this test's own, started by the sweep and shut down after."""
    ray = pytest.importorskip("ray")
    ray.shutdown()  # a fresh local instance: its workers inherit this test's environment
    root = tmp_path / "driver_only"
    root.mkdir()
    (root / "ray_hedge.py").write_text(PLUGIN.format(version="1"))
    monkeypatch.syspath_prepend(str(root))
    yield root
    ray.shutdown()
    sys.modules.pop("ray_hedge", None)


def ray_plan(tmp_path: Path, base_url: str, data_dir: Path, ray: dict | None = None) -> Path:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        yaml.safe_dump(
            {
                "out": "sweep",
                "data_dir": str(data_dir),
                "models": [MODEL],
                "methods": ["none", "ray_hedge:Hedge?prefix=Careful."],
                "run": {"splits": ["image"], "limit": 3, "base_url": base_url},
                "ray": ray or {},
            }
        )
    )
    return plan


def test_the_ray_preflight_names_missing_extras_and_nodes_too_small(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the workers are asked (without Ray): the local extra of a local model and of
    an activation-level method, input files; and a cell that no node can take."""
    import importlib.util

    from vscbench.preflight import able_nodes, cell_problems

    real = importlib.util.find_spec
    absent = ("torch", "transformers")
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n in absent else real(n, *a)
    )
    problems = cell_problems(["hf-lm/x", MODEL], ["none", "steer:no-such.pt"])
    assert problems == [
        "hf-lm/x needs torch and transformers, not installed here: pip install "
        '"vscbench[local]" (install the torch build that suits your machine first, see '
        "pytorch.org)",
        "method 'steer:no-such.pt' needs torch and transformers, not installed here: pip "
        'install "vscbench[local]" (install the torch build that suits your machine first, '
        "see pytorch.org)",
    ]
    monkeypatch.setattr(importlib.util, "find_spec", real)
    assert cell_problems([MODEL], ["steer:no-such.pt"]) == [
        "method 'steer:no-such.pt': vectors=no-such.pt: no such file"
    ]
    here = str(Path(__file__))
    paths = {"data_dir": here, "reminder_file": here, "judge_prompt": "/no/such.txt"}
    assert cell_problems([MODEL], ["none"], paths) == [  # a file is no data folder
        f"run: data_dir={here}: no such folder",
        "run: judge_prompt=/no/such.txt: no such file",
    ]
    nodes = [
        {"Alive": True, "NodeID": "a", "Resources": {"CPU": 8.0}},
        {"Alive": False, "NodeID": "b", "Resources": {"CPU": 8.0, "GPU": 1.0}},
    ]
    assert [n["NodeID"] for n in able_nodes(nodes, {"GPU": 0.0, "CPU": 1.0})] == ["a"]
    with pytest.raises(ValueError, match=r"^no Ray node has GPU>=1, CPU>=1 \(a cell's"):
        able_nodes(nodes, {"GPU": 1.0, "CPU": 1.0})


def test_ray_workers_without_the_plugin_stop_the_sweep_before_any_cell(
    driver_only_plugin: Path, full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    assert resolve("ray_hedge:Hedge")  # the driver has it: only the workers lack it
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        plan = ray_plan(tmp_path, srv.base_url, full_data_dir)
        result = CliRunner().invoke(app, ["sweep", str(plan), "--ray-address", "local"])
        assert not srv.requests  # no cell ran, not even the plain one
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())  # one line, wrapped by the console
    for words in (
        "on Ray worker",
        "method 'ray_hedge:Hedge'",
        "module ray_hedge does not import",
        "install the method's package on every worker",
        "PYTHONPATH",
        "no cell was run",
    ):
        assert words in message, result.output
    assert "Traceback" not in result.output
    assert not [p for p in (tmp_path / "sweep").glob("*") if p.is_dir()]


def test_ray_workers_that_do_not_answer_stop_the_sweep_in_one_line(
    driver_only_plugin: Path,
    full_data_dir: Path,
    tmp_path: Path,
    api_key: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Workers too busy (or too slow to start) to answer the pre-flight in time: the
    sweep stops with one line, and no cell runs."""
    import vscbench.preflight

    monkeypatch.setattr(vscbench.preflight, "ANSWER_TIMEOUT_S", 1e-9)  # no worker is that fast
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        plan = ray_plan(tmp_path, srv.base_url, full_data_dir)
        result = CliRunner().invoke(app, ["sweep", str(plan), "--ray-address", "local"])
        assert not srv.requests
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "the Ray workers did not answer within 1e-09 s" in message, result.output
    assert "no cell was run" in message and "Traceback" not in result.output
    assert not [p for p in (tmp_path / "sweep").glob("*") if p.is_dir()]


def test_ray_workers_without_a_file_the_plan_names_stop_the_sweep(
    full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    """A reminder file that is not where the plan says (found beside the plan, so on a
    worker at that same path): the pre-flight names it, and no cell runs."""
    plan = tmp_path / "plan.yaml"
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        settings = {"splits": ["image"], "limit": 3, "base_url": srv.base_url}
        plan.write_text(
            yaml.safe_dump(
                {
                    "out": "sweep",
                    "data_dir": str(full_data_dir),
                    "models": [MODEL],
                    "methods": ["none", "reminder"],
                    "run": {**settings, "reminder_file": "gone.txt"},
                }
            )
        )
        result = CliRunner().invoke(app, ["sweep", str(plan), "--ray-address", "local"])
        assert not srv.requests
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"run: reminder_file={tmp_path.resolve() / 'gone.txt'}: no such file" in message
    assert "at the same paths there; no cell was run" in message, result.output


def test_ray_workers_given_the_plugin_by_the_plans_runtime_env_run_it(
    driver_only_plugin: Path, full_data_dir: Path, tmp_path: Path, api_key: str
) -> None:
    shipped = {"runtime_env": {"working_dir": driver_only_plugin.name}}  # the fix named
    with FakeOpenAIServer(reply=lambda t, i: "Sure.") as srv:
        plan = ray_plan(tmp_path, srv.base_url, full_data_dir, shipped)
        result = CliRunner().invoke(app, ["sweep", str(plan), "--ray-address", "local"])
        assert result.exit_code == 0, result.output
        hedged = [r for r in srv.requests if r.text.startswith("Careful. ")]
        assert len(hedged) == 3 and len(srv.requests) == 6
    cell = tmp_path / "sweep" / "openai-api-fake-vlm__ray_hedge-Hedge-prefix-Careful."
    assert len((cell / "samples.jsonl").read_text().splitlines()) == 3
