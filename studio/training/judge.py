"""AI feedback (Constitutional AI's labelling step): a judge model ranks answers by a written principle.

The judge is a causal LM (the loaded base with its adapters off, or any local folder / GGUF). It
reads the principle, the question and two answers, and the log-probabilities it gives the letters
"A" and "B" as the next token decide. Each pair is read in both orders; `core.ai_feedback` keeps a
verdict only when both readings agree. Critique-and-revise (the supervised step) asks the same
model to critique an answer against the principle and rewrite it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from studio.core.ai_feedback import Verdict, combine_orders, rank_by_pairs
from studio.core.oversight_store import add_machine_label
from studio.training.configs import SamplingConfig
from studio.training.engine import Hooks
from studio.training.generation import chat_prompt, generate
from studio.training.shared_base import SharedBase

JUDGE_PROMPT = ("Principle: {principle}\n\nQuestion: {prompt}\n\nAnswer A: {a}\n\nAnswer B: {b}\n\n"
                "Which answer follows the principle better? Reply with one letter, A or B.")
CRITIQUE_PROMPT = ("Principle: {principle}\n\nQuestion: {prompt}\n\nAnswer: {answer}\n\n"
                   "Point out briefly how the answer fails the principle.")
REVISE_PROMPT = ("Principle: {principle}\n\nQuestion: {prompt}\n\nAnswer: {answer}\n\nCritique: {critique}\n\n"
                 "Rewrite the answer so that it follows the principle. Reply with the new answer only.")


def ai_annotator(principle: str) -> str:
    return f"ai:{principle.strip()}"


class Judge:
    """Scores "A" vs "B" with a model on the shared base (`adapter` None: the base model itself)."""

    def __init__(self, base: SharedBase, adapter: str | None = None, batch_size: int = 4):
        self.base, self.adapter, self.batch_size = base, adapter, batch_size
        tok = base.tokenizer
        self.letters = [sorted({tok.encode(v, add_special_tokens=False)[0] for v in (letter, f" {letter}")})
                        for letter in ("A", "B")]

    @torch.no_grad()
    def p_first(self, principle: str, prompt: str, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """P(answer A better) for each (A, B), from the letters' next-token log-probs renormalised over A and B."""
        tok = self.base.tokenizer
        texts = [chat_prompt(tok, JUDGE_PROMPT.format(principle=principle, prompt=prompt, a=a, b=b))
                 for a, b in pairs]
        out: list[float] = []
        with self.base.use(self.adapter):
            for start in range(0, len(texts), self.batch_size):
                batch = tok(texts[start:start + self.batch_size], return_tensors="pt", padding=True,
                            padding_side="left", add_special_tokens=False).to(self.base.device)
                mask = batch["attention_mask"]
                positions = (mask.cumsum(1) - 1).clamp(min=0)
                hidden = self.base.hidden_states(batch["input_ids"], mask, positions)[:, -1]
                logprobs = torch.log_softmax(self.base.lm_logits(hidden).float(), -1)
                a, b = (torch.logsumexp(logprobs[:, ids], -1) for ids in self.letters)
                out += torch.sigmoid(a - b).tolist()
        return out

    def verdict(self, principle: str, prompt: str, first: str, second: str) -> Verdict | None:
        """(0 = `first`, 1 = `second`) better with its confidence, or None when the two orders disagree."""
        ab, ba = self.p_first(principle, prompt, [(first, second), (second, first)])
        return combine_orders(ab, ba)

    def rank(self, principle: str, prompt: str, responses: Sequence[str]) -> tuple[list[list[int]], float] | None:
        return rank_by_pairs(len(responses), lambda i, j: self.verdict(principle, prompt, responses[i], responses[j]))

    def critique_and_revise(self, principle: str, prompt: str, answer: str,
                            sampling: SamplingConfig | None = None) -> tuple[str, str]:
        """(critique, revised answer), greedy by default."""
        sampling = sampling or SamplingConfig(max_new_tokens=160, do_sample=False, temperature=0)
        with self.base.use(self.adapter) as model:
            critique = generate(model, self.base.tokenizer, [CRITIQUE_PROMPT.format(
                principle=principle, prompt=prompt, answer=answer)], sampling)[0][0]
            revision = generate(model, self.base.tokenizer, [REVISE_PROMPT.format(
                principle=principle, prompt=prompt, answer=answer, critique=critique)], sampling)[0][0]
        return critique, revision


@dataclass
class LabelCount:
    labelled: int = 0
    abstained: int = 0


def label_with_judge(store, judge: Judge, principle: str, limit: int | None = None,
                     hooks: Hooks | None = None) -> LabelCount:
    """Rank every comparison this principle has not labelled; each label is committed as soon as it is made."""
    if not principle.strip():
        raise ValueError("write a principle for the judge first, e.g. \"prefer the answer that is correct and concise\"")
    hooks = hooks or Hooks()
    annotator = ai_annotator(principle)
    todo = store.unranked_comparisons(annotator)[:limit]
    count = LabelCount()
    for i, comparison in enumerate(todo, 1):
        if hooks.stop_requested():
            break
        ranked = judge.rank(principle, comparison.prompt, comparison.responses)
        if ranked is None:
            count.abstained += 1
        else:
            add_machine_label(store, comparison.id, ranked[0], annotator, ranked[1])
            count.labelled += 1
        hooks.progress(i, len(todo))
    return count
