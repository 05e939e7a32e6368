"""Chunked chosen-token log-probs equal the full log-softmax's values and gradients, without keeping (N, vocab)."""
import gc
import math
import weakref

import pytest
import torch

from studio.training.chosen_logprobs import chosen_logprobs, response_logprobs
from studio.training.ppo_losses import token_logprobs


def softcapped_head(vocab: int = 50, hidden: int = 8):
    """An LM head with Gemma-style soft-capping: the Jacobian must go through the post-processing too."""
    weight = torch.randn(vocab, hidden, generator=torch.Generator().manual_seed(0))
    return lambda h: torch.tanh(h.float() @ weight.T / 3.0) * 3.0


def test_entropy_of_uniform_and_peaked_distributions():
    logits = torch.stack([torch.zeros(8), torch.tensor([100.0] + [0.0] * 7)])  # the head is the identity
    logprobs, entropies = chosen_logprobs(lambda h: h, logits, torch.tensor([3, 0]), 1.0, chunk=1)
    assert entropies.tolist() == pytest.approx([math.log(8), 0.0], abs=1e-6)
    assert logprobs.tolist() == pytest.approx([-math.log(8), 0.0], abs=1e-6)


def plain_head(vocab: int = 50, hidden: int = 8):
    """A plain linear LM head, and its weight: the Jacobian has a closed form."""
    weight = torch.randn(vocab, hidden, generator=torch.Generator().manual_seed(1))
    return (lambda h: h.float() @ weight.T), weight


@pytest.mark.parametrize("chunk", [1, 3, 128])
@pytest.mark.parametrize("kind", ["softcapped", "plain, by autograd", "plain, closed form"])
def test_values_and_gradients_equal_the_full_log_softmax(chunk, kind):
    head, linear = (softcapped_head(), None) if kind == "softcapped" else plain_head()
    linear = linear if kind == "plain, closed form" else None
    hidden = torch.randn(10, 8, requires_grad=True)
    tokens = torch.randint(0, 50, (10,))
    weights = torch.randn(10)
    expected = token_logprobs(head(hidden)[None] / 0.7, tokens[None])[0]
    (expected_grad,) = torch.autograd.grad((expected * weights).sum(), hidden)
    logprobs, entropies = chosen_logprobs(head, hidden, tokens, 0.7, chunk=chunk, linear=linear)
    (grad,) = torch.autograd.grad((logprobs * weights).sum(), hidden)
    torch.testing.assert_close(logprobs, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grad, expected_grad, atol=1e-5, rtol=1e-5)  # the closed form rounds otherwise
    logp = torch.log_softmax(head(hidden.detach()) / 0.7, -1)
    torch.testing.assert_close(entropies, -(logp.exp() * logp).sum(-1), atol=1e-6, rtol=1e-6)
    assert not entropies.requires_grad


def kept_for_backward(compute) -> list[int]:
    """Sizes of the tensors autograd still holds for backward once `compute()` has returned."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(weakref.ref(t)) or t, lambda t: t):
        out = compute()
    gc.collect()
    sizes = [ref().numel() for ref in saved if ref() is not None]
    del out
    return sizes


def test_backward_keeps_no_full_vocabulary_tensor():
    vocab, n = 5000, 40
    head, hidden = softcapped_head(vocab), torch.randn(n, 8, requires_grad=True)
    tokens = torch.randint(0, vocab, (n,))
    assert max(kept_for_backward(lambda: chosen_logprobs(head, hidden, tokens, 1.0, chunk=8))) <= n * 8  # Jacobian
    plain, linear = plain_head(vocab)
    kept = kept_for_backward(lambda: chosen_logprobs(plain, hidden, tokens, 1.0, chunk=8, linear=linear))
    assert max(kept) <= n * 8
    assert max(kept_for_backward(lambda: token_logprobs(head(hidden)[None], tokens[None]))) >= n * vocab  # plain


def test_response_logprobs_compute_only_the_masked_positions():
    head = softcapped_head()
    hidden, tokens = torch.randn(2, 4, 8), torch.randint(0, 50, (2, 4))
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
    rows = []
    logprobs, entropies = response_logprobs(lambda h: rows.append(h.size(0)) or head(h), hidden, tokens, mask, 1.0)
    assert rows == [4]  # the 4 response tokens, not the 8 positions
    full = token_logprobs(head(hidden), tokens)
    torch.testing.assert_close(logprobs, full * mask, atol=1e-6, rtol=1e-6)
    assert (entropies[mask == 0] == 0).all() and (entropies[mask == 1] > 0).all()


def test_a_bfloat16_hidden_state_gets_a_bfloat16_gradient_as_plain_autograd_gives():
    head = softcapped_head()
    hidden = torch.randn(6, 8).bfloat16().requires_grad_()
    tokens = torch.randint(0, 50, (6,))
    (expected,) = torch.autograd.grad(token_logprobs(head(hidden)[None], tokens[None]).sum(), hidden)
    (grad,) = torch.autograd.grad(chosen_logprobs(head, hidden, tokens, 1.0, chunk=4)[0].sum(), hidden)
    assert grad.dtype == torch.bfloat16
    torch.testing.assert_close(grad, expected, atol=1e-2, rtol=1e-2)


def test_the_shared_base_offers_the_closed_form_only_for_a_plain_head(base):
    assert base.plain_head is base.base.get_output_embeddings().weight
    base.base.config.final_logit_softcapping = 30.0
    assert base.plain_head is None


def test_log_probs_without_entropies_are_the_same_numbers():
    head = softcapped_head()
    hidden, tokens = torch.randn(10, 8), torch.randint(0, 50, (10,))
    full, _ = chosen_logprobs(head, hidden, tokens, 0.7, chunk=3)
    alone, entropies = chosen_logprobs(head, hidden, tokens, 0.7, chunk=3, entropy=False)
    assert entropies is None
    torch.testing.assert_close(alone, full, atol=1e-5, rtol=1e-5)
