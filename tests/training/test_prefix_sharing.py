"""Running each prompt once for its k responses gives ppo.forward's log-probs and gradients."""
import torch

from studio.training.online_configs import RLOOConfig
from studio.training.generation import GeneratedBatch
from studio.training.online_policy import POLICY
from studio.training.ppo import forward
from studio.training.prefix_sharing import grouped_forward
from studio.training.group_rounds import rollout


def lora_gradients(base, loss: torch.Tensor) -> list[torch.Tensor]:
    params = base.adapter_parameters(POLICY)
    return list(torch.autograd.grad(loss, params))


def test_grouped_forward_matches_ppo_forward_with_left_padded_prompts(base):
    base.add_lora(POLICY, r=4, alpha=8)
    with torch.no_grad():
        for p in base.adapter_parameters(POLICY):
            p.normal_(std=0.2)  # an adapter that changes the prompt's keys and values too
    k = 3
    batch: GeneratedBatch = rollout(base, ["hi", "write me a long poem about the sea"], RLOOConfig(
        samples_per_prompt=k, max_new_tokens=10), seed=3)
    assert batch.query_mask[0].sum() < batch.query_mask[k].sum()  # the first prompt is left-padded
    ids = torch.cat([batch.query_ids, batch.response_ids], 1)
    attention = torch.cat([batch.query_mask, torch.ones_like(batch.response_ids)], 1)
    mask = batch.response_mask.float()
    with base.use(POLICY):
        plain, _, plain_entropy = forward(base, None, ids, attention, batch.query_ids.size(1), 0.7)
        shared, shared_entropy = grouped_forward(base, batch.query_ids, batch.query_mask, batch.response_ids, k, 0.7)
        assert torch.allclose(plain * mask, shared * mask, atol=1e-5)
        assert torch.allclose(plain_entropy, shared_entropy, atol=1e-4)
        weights = torch.randn_like(mask) * mask
        for a, b in zip(lora_gradients(base, (plain * weights).sum()), lora_gradients(base, (shared * weights).sum())):
            # gradients reach ~20 and sum in another order: 1e-5 of that is float32 rounding (AVX2 CPUs show it)
            torch.testing.assert_close(a, b, atol=1e-5 * a.abs().max().item(), rtol=1e-5)
