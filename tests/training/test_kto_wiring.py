"""What reaches KTO's loss from `train_kto`: the configured weights on the right side, and a reference point
estimated from mismatched pairs of the batch's own completions (TRL's `_get_kl_dataset`)."""
import pytest
import torch

from studio.training import kto
from studio.training.batches import encode_example, pad_batch
from studio.training.response_logprobs import sequence_logprobs
from tests.training.test_kto import rated, small_config


def test_the_weights_reach_the_loss_on_their_own_side(base, tmp_path):
    """At the first step the policy equals the reference (z = 0), so each good answer's loss is w_D * 0.5 and
    each bad one's w_U * 0.5; the batch is the whole set, 6 good and 2 bad."""
    examples = [e for e in rated(6) if e["label"]] + [e for e in rated(6) if not e["label"]][:2]
    seen = []
    config = small_config(steps=1, batch_size=8, eval_fraction=0.0, desirable_weight=2.0, undesirable_weight=0.5)
    kto.train_kto(base, examples, config, tmp_path, kto.Hooks(on_metrics=lambda step, m: seen.append(m)),
                  init_adapter=None)
    assert seen[0]["kl"] == 0.0
    assert seen[0]["loss"] == pytest.approx((6 * 2.0 * 0.5 + 2 * 0.5 * 0.5) / 8, abs=1e-5)  # swapped: 0.4375


def summed(base, adapter, examples) -> torch.Tensor:
    with torch.no_grad(), base.use(adapter):
        return sequence_logprobs(base, *pad_batch(examples, base.tokenizer.pad_token_id, base.device))


def test_the_reference_point_comes_from_the_batch_own_completions(base, tmp_path, monkeypatch):
    """Call the step's loss on a chosen batch, with the policy moved away from the reference, and check the
    mismatched pairs' log-probs that reach `kto_loss` against each (prompt, completion of the batch) by hand."""
    examples, captured, calls = rated(8), {}, []
    monkeypatch.setattr(kto, "run_supervised", lambda **kwargs: captured.update(kwargs))
    real_loss = kto.kto_loss
    monkeypatch.setattr(kto, "kto_loss", lambda *args: calls.append(args) or real_loss(*args))
    kto.train_kto(base, examples, small_config(batch_size=4, eval_fraction=0.0), tmp_path, init_adapter=None)
    with torch.no_grad():
        for name, p in base.peft.named_parameters():
            if ".kto." in name and "lora_B" in name:
                p.add_(torch.randn_like(p, generator=torch.Generator().manual_seed(0)) * 0.3)
    batch = [5, 0, 12, 13]  # prompts 2, 0, 6, 6: the last two answer one prompt
    with base.use("kto"):
        captured["loss_fn"](batch)
    *_, policy_kl, reference_kl, _, _, _ = calls[-1]

    def pair(i, j):
        return encode_example(base.tokenizer, examples[i]["prompt"], examples[j]["completion"], None, 48)

    expected = [pair(5, 0), pair(0, 12), pair(12, 5), pair(13, 5)]  # the next answer to another prompt
    assert reference_kl.tolist() == pytest.approx(summed(base, None, expected).tolist(), abs=1e-4)
    assert policy_kl.tolist() == pytest.approx(summed(base, "kto", expected).tolist(), abs=1e-4)
    assert (policy_kl - reference_kl).abs().min() > 1e-2  # the policy moved: z is a real estimate
