"""Our KTO loss (studio/training/kto.py) against TRL 1.16's own KTOTrainer loss code, on the same numbers.

    bash bench/setup_trl116_venv.sh                                   # once: bench/.venv-trl116 with trl==1.16.0
    PYTHONPATH=. bench/.venv-trl116/bin/python bench/trl_kto_loss.py  # one row per case, exit 1 on a mismatch

TRL 1.16 computes the loss inside `KTOTrainer._compute_loss`; it is called unbound, on a stand-in trainer
that holds only what it reads (beta, the two weights, loss_type "kto", precomputed reference log-probs, a
one-process accelerator) and a stand-in model whose summed completion log-probs are the case's numbers
(the matched pairs' with gradients, the mismatched "KL" pairs' without). We compare the loss, its gradient,
the KL reference point and the mean implicit rewards TRL logs. The tests carry a transcription of the
same formula (tests/training/test_kto.py), so CI checks it without TRL; this script checks the transcription.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from types import SimpleNamespace

import torch
from trl import KTOTrainer, __version__ as trl_version

from studio.training.preference_losses import kto_loss

CASES = [  # (examples, share rated good, beta, desirable weight, undesirable weight, KL shift)
    (8, 0.5, 0.1, 1.0, 1.0, 0.0), (9, 0.3, 0.3, 1.33, 0.8, 0.5), (16, 0.8, 0.05, 1.0, 2.0, -1.0),
    (5, 1.0, 0.1, 1.0, 1.0, 2.0), (6, 0.0, 0.5, 1.0, 1.0, 1.0), (32, 0.5, 1.0, 0.7, 1.3, 0.3),
]


def trl_kto(policy, reference, desirable, policy_kl, reference_kl, beta, wd, wu):
    """TRL's loss, KL point and logged mean rewards for one batch whose sequence log-probs are given."""
    n = len(policy)
    ids, kl_ids = torch.zeros(n, 2, dtype=torch.long), torch.ones(n, 2, dtype=torch.long)

    def model(input_ids, labels, **_):  # one scored token per row: its log-prob is the row's sum
        logps = policy_kl if input_ids is kl_ids else policy
        zeros = torch.zeros(n, 1)
        return SimpleNamespace(log_probs=logps.unsqueeze(1), entropy=zeros, mean_logits=zeros)

    model.training = True
    trainer = SimpleNamespace(
        model=model, beta=beta, desirable_weight=wd, undesirable_weight=wu, loss_type="kto", calculate_KL=True,
        precompute_ref_logps=True, aux_loss_enabled=False, _metrics={"train": defaultdict(list)},
        _total_train_tokens=0, _tp_size=1, accelerator=SimpleNamespace(gather_for_metrics=lambda t: t, device="cpu"))
    trainer._compute_kl_logps = lambda m, batch: KTOTrainer._compute_kl_logps(trainer, m, batch)
    ones = torch.ones(n, 2, dtype=torch.long)
    batch = {"input_ids": ids, "attention_mask": ones, "completion_mask": ones, "KL_input_ids": kl_ids,
             "KL_attention_mask": ones, "KL_completion_mask": ones, "label": desirable, "ref_logps": reference,
             "ref_KL_logps": reference_kl}
    loss = KTOTrainer._compute_loss(trainer, model, batch, return_outputs=False)
    logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}
    return loss, logged


def main() -> int:
    print(f"TRL {trl_version}, torch {torch.__version__}")
    print("| n | good | beta | w_D | w_U | KL point | loss ours | loss TRL | max abs diff (loss, grad, KL, rewards) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    worst = 0.0
    for seed, (n, share, beta, wd, wu, shift) in enumerate(CASES):
        g = torch.Generator().manual_seed(seed)
        policy = (-40 * torch.rand(n, generator=g, dtype=torch.float64) - 1).requires_grad_(True)
        reference = policy.detach() + 3 * torch.randn(n, generator=g, dtype=torch.float64)
        desirable = torch.rand(n, generator=g) < share
        policy_kl = -40 * torch.rand(n, generator=g, dtype=torch.float64) - 1
        reference_kl = policy_kl - shift + torch.randn(n, generator=g, dtype=torch.float64)
        ours, rewards, kl = kto_loss(policy, reference, desirable, policy_kl, reference_kl, beta, wd, wu)
        theirs, logged = trl_kto(policy, reference, desirable, policy_kl, reference_kl, beta, wd, wu)
        ours_grad, = torch.autograd.grad(ours, policy)
        theirs_grad, = torch.autograd.grad(theirs, policy)
        diffs = [(ours - theirs).abs().item(), (ours_grad - theirs_grad).abs().max().item(),
                 abs(kl.item() - logged["kl"])]
        if desirable.any():
            diffs.append(abs(rewards[desirable].mean().item() - logged["rewards/chosen"]))
        if (~desirable).any():
            diffs.append(abs(rewards[~desirable].mean().item() - logged["rewards/rejected"]))
        diff = max(diffs)
        worst = max(worst, diff)
        print(f"| {n} | {int(desirable.sum())} | {beta} | {wd} | {wu} | {kl.item():.4f} | {ours.item():.10f} "
              f"| {theirs.item():.10f} | {diff:.1e} |")
    print(f"worst difference: {worst:.1e}")
    return 0 if worst < 1e-12 else 1


if __name__ == "__main__":
    sys.exit(main())
