"""generate_comparisons: each prompt's answers stored as one comparison; a cancel stops between tokens."""
import pytest
import torch

from studio.core.project import Project
from studio.training import precision
from studio.training.configs import SamplingConfig
from studio.training.engine import Hooks
from studio.training.runs import generate_comparisons, generation_chunks


def test_cancel_stops_inside_an_answer_and_stores_nothing_half_done(tmp_path, base):
    project = Project.init(tmp_path / "p", model="embedded")
    for text in ("first prompt", "second prompt"):
        project.store.add_prompt(text)
    checks = []

    def should_stop() -> bool:  # true from the 3rd check on: that is 2 tokens into the first answer
        checks.append(1)
        return len(checks) >= 3

    sampling = SamplingConfig(max_new_tokens=200, temperature=1.0, do_sample=True, seed=0)
    made = generate_comparisons(project, base, 2, sampling=sampling, hooks=Hooks(should_stop=should_stop))
    assert made == [] and project.store.comparisons() == [] and project.store.responses() == []
    assert len(checks) <= 5  # checked per token: the 200-token answers were never finished
    project.close()


def test_the_first_comparisons_are_stored_before_the_rest_are_generated(tmp_path, base):
    """The first 4 prompts (8 sequences) are answered in one call and stored (they can be ranked at once); the
    others in the next call."""
    project = Project.init(tmp_path / "p", model="embedded")
    for n in range(6):
        project.store.add_prompt(f"prompt {n}")
    seen = []
    hooks = Hooks(on_progress=lambda done, total: seen.append((done, total, len(project.store.comparisons()))))
    made = generate_comparisons(project, base, 2, sampling=SamplingConfig(max_new_tokens=4), hooks=hooks)
    assert len(made) == 6 and seen == [(4, 6, 4), (6, 6, 6)]
    project.close()


def test_generation_calls_start_small_twice_then_grow_to_the_largest():
    """The second call is as small as the first: it must end before a fast ranker is through the first one's."""
    sizes = [len(chunk) for chunk in generation_chunks(list(range(60)), 2)]
    assert sizes == [4, 4, 8, 16, 16, 12]  # sequences per call: 8, 8, 16, 32, 32, 24
    assert [len(c) for c in generation_chunks(list(range(9)), 8)] == [1, 1, 2, 4, 1]  # 8 answers a prompt
    assert [len(c) for c in generation_chunks(list(range(3)), 2)] == [3]
    assert generation_chunks([], 2) == []


@pytest.mark.parametrize("native_bf16", [True, False])
def test_comparisons_are_decoded_on_bf16_weights_where_the_cpu_has_native_bf16(tmp_path, base, monkeypatch,
                                                                               native_bf16):
    """Decoding reads every weight per token: on bf16 copies (where `wants_bf16`) it is 1.7x faster on the
    embedded model; the float32 weights are back afterwards."""
    monkeypatch.setattr(precision, "BF16_MIN_HIDDEN", 0)  # the tiny model counts as large enough
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native_bf16)
    project = Project.init(tmp_path / "p", model="embedded")
    for n in range(2):
        project.store.add_prompt(f"prompt {n}")
    layer = base.base.get_decoder().layers[0].mlp.down_proj
    seen = []
    layer.register_forward_hook(lambda module, args, out: seen.append(module.weight.dtype))
    made = generate_comparisons(project, base, 2, sampling=SamplingConfig(max_new_tokens=4, seed=0))
    assert len(made) == 2 and len(project.store.responses()) == 4
    assert set(seen) == {torch.bfloat16 if native_bf16 else torch.float32}
    assert layer.weight.dtype == torch.float32
    project.close()


def test_generating_from_the_base_model_never_imports_peft(tmp_path, tiny_model_dir):
    """PEFT takes seconds to import: loading the model and ranking's generation must not need it."""
    import subprocess
    import sys

    project = Project.init(tmp_path / "p", model=str(tiny_model_dir))
    project.store.add_prompt("a prompt")
    project.close()
    code = f"""
import sys
from studio.core.project import Project
from studio.training.configs import SamplingConfig
from studio.training.runs import generate_comparisons, open_base
project = Project.open({str(tmp_path / "p")!r})
base = open_base(project, device="cpu")
assert len(generate_comparisons(project, base, 2, sampling=SamplingConfig(max_new_tokens=4))) == 1
assert "peft" not in sys.modules, "peft was imported"
base.add_lora("sft", r=2)
assert "peft" in sys.modules
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_without_settings_answers_get_the_length_of_the_models_device(tmp_path, base, monkeypatch):
    """No sampling given: the answer length is the device's default (48 tokens on a CPU), as on the Rank page."""
    from studio.core import answer_length
    from studio.training.runs import default_sampling

    project = Project.init(tmp_path / "p", model="embedded")
    project.store.add_prompt("a prompt")
    monkeypatch.setitem(answer_length.ANSWER_TOKENS, "cpu", 5)  # short, so the tiny model's answers are quick
    generate_comparisons(project, base, 2)
    assert {r.settings["max_new_tokens"] for r in project.store.responses()} == {5}
    assert default_sampling(base).max_new_tokens == 5
    assert default_sampling(base, max_new_tokens=7, temperature=0.5) == SamplingConfig(max_new_tokens=7,
                                                                                       temperature=0.5)
    project.close()
