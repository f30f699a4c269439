"""Steering hooks on tiny VLMs: exact shifts, clean exits, recovered directions."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from fixtures import TINY_FAMILIES, build_tiny_vlm  # noqa: E402
from PIL import Image  # noqa: E402

from vscbench.chat import ask  # noqa: E402
from vscbench.models.local.vlm import LocalVLM  # noqa: E402
from vscbench.models.steering.fit import (  # noqa: E402
    mean_difference,
    probe_accuracy,
    split_heads,
)
from vscbench.models.steering.hooks import (  # noqa: E402
    Gate,
    Steering,
    collect,
    decoder_layers,
    head_shape,
    recording,
    steered,
)
from vscbench.models.steering.vectors import load_steering, save_vectors  # noqa: E402


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def vlm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> LocalVLM:
    return LocalVLM(str(build_tiny_vlm(request.param, tmp_path_factory.mktemp(request.param))))


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pic") / "p.png"
    Image.new("RGB", (40, 30), (200, 40, 10)).save(path)
    return path


def forward(vlm: LocalVLM, picture: Path, layers: list[int]) -> tuple[dict, torch.Tensor]:
    inputs = vlm.inputs([ask("What is this?", picture), ask("How do I use it safely?", picture)])
    with recording(vlm.model, layers) as found, torch.inference_mode():
        logits = vlm.model(**inputs).logits
    return {k: v.clone() for k, v in found.items()}, logits


def test_layer_hook_adds_exactly_alpha_v_and_nothing_before(vlm: LocalVLM, picture: Path) -> None:
    n = len(decoder_layers(vlm.model))
    layers = list(range(n))
    base, base_logits = forward(vlm, picture, layers)
    target = 2
    vector = torch.randn(base[0].shape[-1])
    with steered(vlm.model, Steering(alpha=1.5, layers={target: vector})):
        hooked, hooked_logits = forward(vlm, picture, layers)
    for index in range(target):
        assert torch.equal(hooked[index], base[index])  # nothing changes before L
    assert torch.allclose(
        hooked[target] - base[target], (1.5 * vector).expand_as(base[target]), atol=1e-5
    )
    assert not torch.allclose(hooked_logits, base_logits)
    # after the block, the model is exactly the unhooked model again
    again, again_logits = forward(vlm, picture, layers)
    assert torch.equal(again_logits, base_logits)
    assert all(torch.equal(again[i], base[i]) for i in layers)


def test_hooks_removed_even_on_error(vlm: LocalVLM, picture: Path) -> None:
    base, base_logits = forward(vlm, picture, [0])
    width = base[0].shape[-1]
    with (
        pytest.raises(RuntimeError, match="boom"),
        steered(vlm.model, Steering(alpha=3.0, layers={0: torch.ones(width)})),
    ):
        raise RuntimeError("boom")
    _, after = forward(vlm, picture, [0])
    assert torch.equal(after, base_logits)
    greedy = vlm.generate_batch([ask("Hi", picture)], max_new_tokens=6)
    assert greedy == vlm.generate_batch([ask("Hi", picture)], max_new_tokens=6)


def test_head_revision_touches_only_chosen_heads(vlm: LocalVLM, picture: Path) -> None:
    heads, dim = head_shape(vlm.model)
    inputs = vlm.inputs([ask("What is this?", picture)])

    def o_proj_inputs() -> dict[int, torch.Tensor]:
        with recording(vlm.model, [0, 1], heads=True) as found, torch.inference_mode():
            vlm.model(**inputs)
        return {k: v.clone() for k, v in found.items()}

    base = o_proj_inputs()
    vector = torch.randn(dim)
    with steered(vlm.model, Steering(alpha=2.0, heads={(1, 2): vector})):
        revised = o_proj_inputs()
    assert torch.equal(revised[0], base[0])
    diff = (revised[1] - base[1]).view(*base[1].shape[:-1], heads, dim)
    for head in range(heads):
        if head == 2:
            assert torch.allclose(
                diff[..., head, :], (2.0 * vector).expand_as(diff[..., head, :]), atol=1e-5
            )
        else:
            assert torch.count_nonzero(diff[..., head, :]) == 0


def test_planted_direction_is_recovered() -> None:
    generator = torch.Generator().manual_seed(0)
    direction = torch.nn.functional.normalize(torch.randn(64, generator=generator), dim=0)
    safe = torch.randn(2000, 64, generator=generator)
    unsafe = torch.randn(2000, 64, generator=generator) + 3.0 * direction
    fitted = mean_difference(unsafe, safe)
    assert torch.nn.functional.cosine_similarity(fitted, direction, dim=0) > 0.99


def test_planted_direction_through_the_model(vlm: LocalVLM, picture: Path) -> None:
    """Plant a direction in layer 1's output for 'unsafe' prompts; fit recovers it."""
    width = decoder_layers(vlm.model)[0].self_attn.o_proj.out_features
    direction = torch.nn.functional.normalize(torch.randn(width), dim=0)
    prompts = [(f"question number {i} about the picture", picture) for i in range(12)]
    safe = collect(vlm, prompts, [1], "last", batch_size=4)[1]
    with steered(vlm.model, Steering(alpha=5.0, layers={1: direction})):
        unsafe = collect(vlm, prompts, [1], "mean", batch_size=4)[1]
    plain_mean = collect(vlm, prompts, [1], "mean", batch_size=4)[1]
    fitted = mean_difference(unsafe, plain_mean)
    assert torch.nn.functional.cosine_similarity(fitted, direction, dim=0) > 0.99
    assert safe.shape == (12, width)


def test_probe_ranks_informative_groups() -> None:
    generator = torch.Generator().manual_seed(1)
    n, dim = 200, 8
    y = torch.arange(n) % 2
    noise = torch.randn(2, n, dim, generator=generator)
    noise[0, :, 0] += 4.0 * (y.float() * 2 - 1)  # group 0 separates the classes
    accuracy = probe_accuracy(noise[:, :100], y[:100], noise[:, 100:], y[100:])
    assert accuracy[0] > 0.95 and accuracy[1] < 0.75
    acts = torch.arange(24.0).view(2, 12)
    assert split_heads(acts, 3).shape == (3, 2, 4)


def test_vectors_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "v.pt"
    save_vectors(
        path,
        {1: torch.ones(4), 3: torch.zeros(4)},
        {"level": "layer", "layers": [1, 3], "model": "m"},
    )
    steering = load_steering(path, 0.5, layers=[3])
    assert list(steering.layers) == [3] and steering.alpha == 0.5
    heads_path = tmp_path / "h.pt"
    save_vectors(heads_path, {(0, 1): torch.ones(2)}, {"level": "head", "layers": [0]})
    assert list(load_steering(heads_path, 1.0).heads) == [(0, 1)]
    with pytest.raises(ValueError, match="no vectors for layer"):
        load_steering(path, 1.0, layers=[7])


def test_a_file_that_is_not_vectors_is_one_line_naming_it(tmp_path: Path) -> None:
    """--steer with a corrupt or foreign file: one line (the CLI's error), never torch's
    traceback."""
    from vscbench.plugins import MethodError, bind

    torch.save({"state_dict": torch.ones(2)}, tmp_path / "foreign.pt")
    (tmp_path / "text.pt").write_text("not a tensor file")
    (tmp_path / "empty.pt").write_bytes(b"")
    (tmp_path / "zip.pt").write_bytes(b"PK\x03\x04" * 8)
    for name, why in (
        ("foreign", "no keys, vectors, meta"),
        ("text", "Error: "),  # which error depends on the bytes
        ("empty", "EOFError"),
        ("zip", "RuntimeError"),
    ):
        path = tmp_path / f"{name}.pt"
        with pytest.raises(MethodError, match="not a vscbench steering-vectors file") as caught:
            bind(f"steer:{path}", local=True)
        assert why in str(caught.value) and "\n" not in str(caught.value)


def test_gate_steers_only_the_rows_its_probe_lets_through(vlm: LocalVLM, picture: Path) -> None:
    """Gated steering: rows the probe scores below the threshold are left exactly alone."""
    layers = list(range(len(decoder_layers(vlm.model))))
    base, _ = forward(vlm, picture, layers)
    width = base[0].shape[-1]
    vector = torch.randn(width)
    target = 2
    # a probe that separates the two prompts: project on their difference at layer 1
    direction = (base[1][0, -1] - base[1][1, -1]).float()
    midpoint = float(((base[1][0, -1] + base[1][1, -1]).float() / 2) @ direction)
    weight = direction * (10 / direction.norm() ** 2)  # a clear margin either side
    gate = Gate(layer=1, weight=weight, bias=-midpoint * float(10 / direction.norm() ** 2))
    steering = Steering(alpha=1.5, layers={target: vector}, gate=gate)
    with steered(vlm.model, steering):
        hooked, _ = forward(vlm, picture, layers)
    assert not torch.equal(hooked[target][0], base[target][0])  # row 0 scored high: steered
    assert torch.equal(hooked[target][1], base[target][1])  # row 1 scored low: untouched
    assert torch.allclose(hooked[target][0], base[target][0] + 1.5 * vector, atol=1e-5)
    always = Steering(alpha=1.5, layers={target: vector}, gate=Gate(1, weight * 0, 10.0))
    never = Steering(alpha=1.5, layers={target: vector}, gate=Gate(1, weight * 0, -10.0))
    with steered(vlm.model, always):
        on, _ = forward(vlm, picture, layers)
    with steered(vlm.model, never):
        off, _ = forward(vlm, picture, layers)
    assert torch.allclose(on[target], base[target] + 1.5 * vector, atol=1e-5)
    assert torch.equal(off[target], base[target])
    late = Steering(alpha=1.0, layers={1: vector}, gate=Gate(2, weight, 0.0))
    with pytest.raises(ValueError, match="gate at or before"), steered(vlm.model, late):
        pass


def test_steer_in_a_plan_is_named_by_content_and_swept_by_strength(tmp_path: Path) -> None:
    """A plan's steer method, like any method with an alpha: a cell per strength, its
    vectors found beside the plan and named by their sha256."""
    import yaml

    from vscbench.files import sha256_file
    from vscbench.sweep import load_plan

    vectors = tmp_path / "v.pt"
    save_vectors(vectors, {1: torch.ones(4)}, {"level": "layer", "layers": [1]})
    plan = tmp_path / "plan.yaml"
    methods = ["none", "steer:v.pt", "steer:v.pt?alpha=3&layers=1"]
    plan.write_text(
        yaml.safe_dump({"models": ["hf-lm/m"], "methods": methods, "strengths": [0, 2]})
    )
    _, cells, _ = load_plan(plan)
    digest = sha256_file(vectors)[:12]
    # named as `steer sweep` and plans always named steering cells, so those resume
    assert {c.name: c.config.method for c in cells} == {
        "hf-lm-m__none": "none",
        f"hf-lm-m__steer-{digest}__a0": f"steer?vectors={vectors}&alpha=0.0",
        f"hf-lm-m__steer-{digest}__a2": f"steer?vectors={vectors}&alpha=2.0",
        f"hf-lm-m__steer-{digest}__a3__layers1": f"steer?vectors={vectors}&alpha=3&layers=1",
    }
    plan.write_text(yaml.safe_dump({"models": ["hf-lm/m"], "methods": ["steer:gone.pt"]}))
    with pytest.raises(ValueError, match=r"plan.yaml: method 'steer.*gone.pt: cannot read") as no:
        load_plan(plan)
    assert "\n" not in str(no.value)


def test_an_old_steered_identity_is_the_steer_methods(tmp_path: Path) -> None:
    """What a steered run recorded before steering was a method reads as steer's now."""
    from vscbench.files import sha256_file
    from vscbench.plugins import bind
    from vscbench.results.identity import upgrade

    vectors = tmp_path / "v.pt"
    save_vectors(
        vectors, {1: torch.ones(4), 2: torch.ones(4)}, {"level": "layer", "layers": [1, 2]}
    )
    steering = {"sha256": sha256_file(vectors), "alpha": 4.0, "layers": [2], "gate": None}
    old = {"selection": {"limit": None}, "method": {"name": "none"}, "steering": steering}
    now = bind(f"steer:{vectors}?alpha=4&layers=2", local=True).identity()
    assert upgrade(old) == {"selection": {"limit": None}, "method": now, "steering": None}
    beside = {**old, "method": {"name": "reminder", "text_sha256": "x"}}
    assert upgrade(beside) == beside  # steering beside a prompt method: one method cannot say
