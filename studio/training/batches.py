"""What every engine does to its data before a forward pass: encode a chat example, pad a batch, split off held-out
data (by example or by whole prompts), cut into chunks, and size a step in tokens.

An engine imports these from here, never from a sibling engine's file.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch

from studio.core.preferences import most_places, ranking_loss_for
from studio.training.chat_format import encode_chat
from studio.training.shared_base import SharedBase

Example = tuple[list[int], int]


def encode_example(tokenizer, prompt: str, response: str, system: str | None, max_length: int) -> Example:
    """Token ids of the chat-formatted prompt + response up to its end-of-turn token, and where the response
    starts (see `chat_format.encode_chat`)."""
    ids, head = encode_chat(tokenizer, prompt, response, system)
    if len(ids) > max_length:  # keep the response; cut the prompt from the left
        cut = len(ids) - max_length
        return ids[cut:], max(head - cut, 1)
    return ids, head


def pad_batch(examples: list[Example], pad_id: int, device) -> tuple[torch.Tensor, ...]:
    """Right-pad to a batch: input ids, attention mask, labels (-100 outside responses)."""
    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for row, (seq, start) in enumerate(examples):
        ids[row, :len(seq)] = torch.tensor(seq)
        mask[row, :len(seq)] = 1
        labels[row, start:len(seq)] = ids[row, start:len(seq)]
    return ids.to(device), mask.to(device), labels.to(device)


def encode_pairs(tokenizer, pairs: list[dict], max_length: int) -> list[tuple[Example, Example]]:
    """(chosen, rejected) token ids of each pair, each response after its chat-formatted prompt."""
    return [tuple(encode_example(tokenizer, p["prompt"], p[side], p.get("system"), max_length)
                  for side in ("chosen", "rejected")) for p in pairs]


def pair_batch(base: SharedBase, encoded: list[tuple[Example, Example]], idx: Sequence[int]
               ) -> tuple[torch.Tensor, ...]:
    """One right-padded batch: the chosen rows of `idx`, then their rejected rows (ids, mask, labels)."""
    rows = [encoded[i][0] for i in idx] + [encoded[i][1] for i in idx]
    return pad_batch(rows, base.tokenizer.pad_token_id, base.device)


def pair_halves(base: SharedBase, encoded: list[tuple[Example, Example]], idx: Sequence[int],
                per_row: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """`per_row(ids, mask, labels)` (one value a row) on the pair batch of `idx`, as (chosen, rejected, mask)."""
    ids, mask, labels = pair_batch(base, encoded, idx)
    both = per_row(ids, mask, labels)
    return both[:len(idx)], both[len(idx):], mask


def over_chunks(pair_fn: Callable[[Sequence[int]], tuple[torch.Tensor, ...]], idx: Sequence[int], size: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """`pair_fn`'s (chosen, rejected) over `idx` in batches of `size`, concatenated (an evaluation's)."""
    chosen, rejected = zip(*(pair_fn(batch)[:2] for batch in chunks(idx, size)))
    return torch.cat(chosen), torch.cat(rejected)


def pair_weights(pairs: list[dict], train_idx: Sequence[int], device) -> torch.Tensor:
    """InstructGPT pair weights (a K-way ranking's pairs share weight 1) scaled to mean 1 over the training pairs,
    so a batch's weighted mean is on the scale of a plain mean, and each ranking weighs the same in it."""
    weights = torch.tensor([float(p.get("weight", 1.0)) for p in pairs], device=device)
    return weights / weights[list(train_idx)].mean() if len(train_idx) else weights


def chunks(items: Sequence, size: int) -> list[Sequence]:
    """`items` cut into consecutive pieces of `size` (the last may be shorter)."""
    return [items[i:i + size] for i in range(0, len(items), size)]


def split_indices(n: int, fraction: float, seed: int, minimum: int = 10) -> tuple[list[int], list[int]]:
    """Shuffle 0..n-1 and hold out `fraction` of them (none when n < minimum)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    held = int(n * fraction) if n >= minimum else 0
    return order[held:], order[:held]


def split_by_prompt(items: list[dict], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Hold out whole prompts (needs >= 10 distinct ones), so no prompt sits on both sides of the split."""
    prompts = sorted({p["prompt"] for p in items})
    _, held = split_indices(len(prompts), fraction, seed)
    held_prompts = {prompts[i] for i in held}
    train = [i for i, p in enumerate(items) if p["prompt"] not in held_prompts]
    return train, [i for i, p in enumerate(items) if p["prompt"] in held_prompts]


def prompt_split(items: list[dict], eval_idx: Sequence[int]) -> tuple[int, int]:
    """(held-out prompts, all prompts) of a `split_by_prompt` split: what its eval figures rest on."""
    return len({items[i]["prompt"] for i in eval_idx}), len({item["prompt"] for item in items})


def step_tokens(sequences: Iterable[Example], per_step: int) -> int:
    """The most tokens one step's forward can hold: `per_step` sequences as long as the longest."""
    return per_step * max((len(ids) for ids, _ in sequences), default=0)


def pair_step_tokens(encoded: list[tuple[Example, Example]], batch_size: int) -> int:
    """The most tokens one step of `batch_size` pairs can hold (both sides of each pair in one forward)."""
    return step_tokens((ex for pair in encoded for ex in pair), 2 * batch_size)


def whole_rankings(data: list[dict], ranking_loss: str, say: Callable[[str], None]) -> bool:
    """True when a reward or DPO run with `ranking_loss` learns from the whole rankings of `data`
    (`preferences.ranking_loss_for`), which it then `say`s; False: from their pairs."""
    whole = ranking_loss_for(ranking_loss, data) == "plackett_luce"
    if whole:
        say(f"Learning from whole rankings (K={most_places(data)}): Plackett-Luce")
    return whole


def encode_rankings(tokenizer, rankings: list[dict], max_length: int) -> list[list[Example]]:
    """The token ids of every answer of each ranking (`preferences.ranking_record`), after its prompt."""
    return [[encode_example(tokenizer, r["prompt"], answer, r.get("system"), max_length) for answer in r["responses"]]
            for r in rankings]


def ranking_batch(base: SharedBase, encoded: list[list[Example]], idx: Sequence[int]) -> tuple[torch.Tensor, ...]:
    """One right-padded batch of every answer of the rankings `idx`, ranking after ranking (ids, mask, labels)."""
    return pad_batch([ex for i in idx for ex in encoded[i]], base.tokenizer.pad_token_id, base.device)


def ranking_places(rankings: list[dict], idx: Sequence[int], device) -> torch.Tensor:
    """(B, K) places of the rankings `idx` for `preference_losses`: each answer's group, 0 = best, -1 padding."""
    width = max(len(rankings[i]["responses"]) for i in idx)
    places = torch.full((len(idx), width), -1, dtype=torch.long)
    for row, i in enumerate(idx):
        for place, group in enumerate(rankings[i]["order"]):
            places[row, group] = place
    return places.to(device)


def by_ranking(values: torch.Tensor, places: torch.Tensor) -> torch.Tensor:
    """Per-answer `values` (N,) of a `ranking_batch`, laid out (B, K) as `places` (padding 0)."""
    out = values.new_zeros(places.shape)
    out[places >= 0] = values  # row-major: ranking after ranking, answers in order
    return out


def ranking_step_tokens(encoded: list[list[Example]], batch_size: int) -> int:
    """The most tokens one step of `batch_size` rankings can hold (every answer of each in one forward)."""
    return step_tokens((ex for ranking in encoded for ex in ranking), batch_size * max(map(len, encoded), default=0))
