import math

import torch
import torch.nn.functional as F

from studio.training.batches import encode_example, pad_batch
from studio.training.engine import Hooks
from studio.training.sft import SFTConfig, response_loss, train_sft
from tests.training.helpers import greedy, tiny_base

DEMOS = [{"prompt": "hi", "response": "hello there"}, {"prompt": "2+2?", "response": "four"}]


def fast(**kw) -> SFTConfig:
    return SFTConfig(**{"steps": 60, "lr": 3e-3, "batch_size": 2, "warmup_steps": 0, "checkpoint_every": 10, **kw})


def test_loss_only_counts_response_tokens(tiny_model_dir):
    base = tiny_base(tiny_model_dir)
    ids, start = encode_example(base.tokenizer, "hi", "hello", None, 512)
    assert base.tokenizer.decode(ids[start:]).startswith("hello")
    assert "hi" in base.tokenizer.decode(ids[:start])


def test_batches_label_only_response_tokens(tiny_model_dir):
    base = tiny_base(tiny_model_dir)
    examples = [encode_example(base.tokenizer, d["prompt"], d["response"], None, 512) for d in DEMOS]
    ids, mask, labels = pad_batch(examples, base.tokenizer.pad_token_id, "cpu")
    for row, (seq, start) in enumerate(examples):
        assert labels[row].tolist() == [-100] * start + seq[start:] + [-100] * (ids.size(1) - len(seq))
        assert mask[row].tolist() == [1] * len(seq) + [0] * (ids.size(1) - len(seq))


def test_loss_takes_the_lm_head_on_response_positions_only(tiny_model_dir, monkeypatch):
    base = tiny_base(tiny_model_dir)
    examples = [encode_example(base.tokenizer, d["prompt"], d["response"], None, 512) for d in DEMOS]
    ids, mask, labels = pad_batch(examples, base.tokenizer.pad_token_id, "cpu")
    full = base.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    expected = F.cross_entropy(full.transpose(1, 2), labels[:, 1:], ignore_index=-100)
    rows_seen, lm_logits = [], base.lm_logits
    monkeypatch.setattr(base, "lm_logits", lambda hidden: rows_seen.append(hidden.shape[:-1]) or lm_logits(hidden))
    assert torch.allclose(response_loss(base, ids, mask, labels), expected, atol=1e-5)
    assert rows_seen == [torch.Size([int((labels[:, 1:] != -100).sum())])]


def test_sft_loss_falls_and_greedy_reproduces_demo(tiny_model_dir, tmp_path):
    base = tiny_base(tiny_model_dir)
    losses = []
    result = train_sft(base, DEMOS, fast(), tmp_path, Hooks(on_metrics=lambda s, m: losses.append(m["loss"])))
    assert result.status == "finished" and result.step == 60
    assert losses[-1] < 0.5 * losses[0]
    assert greedy(base, "sft", "hi").strip() == "hello there"
    assert greedy(base, None, "hi").strip() != "hello there"  # the base model is untouched
    assert (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_cancel_stops_within_one_step_and_resume_reaches_same_step(tiny_model_dir, tmp_path):
    base = tiny_base(tiny_model_dir)
    steps = []
    hooks = Hooks(on_metrics=lambda s, m: steps.append(s), should_stop=lambda: len(steps) >= 3)
    result = train_sft(base, DEMOS, fast(steps=20), tmp_path, hooks)
    assert result.status == "cancelled" and result.step == 3
    resumed = train_sft(tiny_base(tiny_model_dir), DEMOS, fast(steps=20), tmp_path, resume=True)
    assert resumed.status == "finished" and resumed.step == 20


def test_resume_matches_uninterrupted_run(tiny_model_dir, tmp_path):
    full = tiny_base(tiny_model_dir)
    ref = train_sft(full, DEMOS, fast(steps=12), tmp_path / "a")
    killed = []
    part = tiny_base(tiny_model_dir)
    train_sft(part, DEMOS, fast(steps=12), tmp_path / "b", Hooks(on_metrics=lambda s, m: killed.append(s),
                                                                  should_stop=lambda: len(killed) >= 10))
    resumed = train_sft(tiny_base(tiny_model_dir), DEMOS, fast(steps=12), tmp_path / "b", resume=True)
    assert math.isclose(resumed.metrics["loss"], ref.metrics["loss"], rel_tol=1e-4)


def test_nan_loss_stops_as_diverged(tiny_model_dir, tmp_path, monkeypatch):
    import studio.training.sft as sft

    real = sft.response_loss
    calls = []

    def poisoned(*args):
        calls.append(1)
        loss = real(*args)
        return loss * float("nan") if len(calls) > 4 else loss

    monkeypatch.setattr(sft, "response_loss", poisoned)
    result = train_sft(tiny_base(tiny_model_dir), DEMOS, fast(steps=10, checkpoint_every=2), tmp_path)
    assert result.status == "diverged" and result.step == 4
    assert "nan" in result.error
    assert (tmp_path / "checkpoint" / "meta.json").read_text().startswith('{"step": 4')
