"""Chat generation: batched answers (left padding; one cut at the limit mid-sentence ends at its last whole
sentence), token-level rollouts for PPO, and streaming for the compare page.

Sampling is exactly what `SamplingConfig` says: a model's own `generation_config` (top-k, min-p,
repetition penalties, no-repeat n-grams, a preferred temperature) is set aside for the call, so PPO's
log-probabilities match the distribution the answers were drawn from.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    GenerationConfig, LogitsProcessor, LogitsProcessorList, PreTrainedTokenizerBase, StoppingCriteria,
    StoppingCriteriaList, TemperatureLogitsWarper, TextIteratorStreamer,
)

from studio.core.answer_length import ends_sentence, whole_sentences
from studio.training.chat_format import chat_prompt, end_of_turn_id
from studio.training.configs import SamplingConfig

ShouldStop = Callable[[], bool]
TOKEN_ID_FIELDS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id")


@dataclass
class GeneratedBatch:
    """Token-level rollout for PPO; row i of every tensor belongs to prompt i."""

    query_ids: torch.Tensor  # (B, Lq) chat-formatted prompts, left-padded
    query_mask: torch.Tensor  # (B, Lq) 1 on real prompt tokens
    response_ids: torch.Tensor  # (B, Lr) Lr <= max_new_tokens, pad after the first EOS
    response_mask: torch.Tensor  # (B, Lr) 1 up to and including the first EOS
    texts: list[str]  # decoded responses, special tokens skipped, stripped
    hidden: torch.Tensor | None = None  # (B, Lr, H) last-layer hidden state before each response token


@dataclass(frozen=True)
class Answer:
    """One generated answer. One that reached the token limit mid-sentence is `trimmed` back to its last whole
    sentence (`answer_length.whole_sentences`), or, with none late enough, kept whole and `cut`."""

    text: str
    cut: bool = False
    trimmed: bool = False


def generate(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    sampling: SamplingConfig,
    num_return_sequences: int = 1,
    batch_size: int = 8,
    should_stop: ShouldStop | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[list[str]]:
    """The texts of `generate_answers`, as generated (none cut back: what a policy says, for samples and rounds)."""
    return [[a.text for a in row] for row in generate_answers(model, tokenizer, prompts, sampling,
                                                              num_return_sequences, batch_size, should_stop,
                                                              on_progress, trim=False)]


def generate_answers(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    sampling: SamplingConfig,
    num_return_sequences: int = 1,
    batch_size: int = 8,
    should_stop: ShouldStop | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    trim: bool = True,
) -> list[list[Answer]]:
    """`num_return_sequences` answers per prompt; `batch_size` counts sequences per forward pass. An answer still
    going at `max_new_tokens` ends at its last whole sentence (with `trim`), else is marked `cut`.

    When `should_stop()` turns true, returns the answers of the prompts finished so far (a shorter list).
    """
    device = _device(model)
    config, sampler = _generation_config(model, tokenizer, sampling)
    stopping = StoppingCriteriaList([_StopWhen(should_stop)] if should_stop else [])
    stops = eos_ids(model, tokenizer)
    per_batch = max(1, batch_size // num_return_sequences)
    answers: list[list[Answer]] = []
    with _eval_mode(model), _only_our_settings(model), _seeded(sampling.seed, device), torch.inference_mode():
        for start in range(0, len(prompts), per_batch):
            if should_stop and should_stop():
                break
            batch = {k: v.repeat_interleave(num_return_sequences, 0)  # row i*n + j: answer j to prompt i
                     for k, v in _encode(tokenizer, prompts[start:start + per_batch], device).items()}
            width = batch["input_ids"].shape[1]
            out = model.generate(**batch, generation_config=config, logits_processor=sampler,
                                 stopping_criteria=stopping)
            if should_stop and should_stop():
                break
            rows = [_answer(tokenizer, row, stops, trim) for row in out[:, width:]]
            answers += [rows[i:i + num_return_sequences] for i in range(0, len(rows), num_return_sequences)]
            if on_progress:
                on_progress(len(answers), len(prompts))
    return answers


def _answer(tokenizer: PreTrainedTokenizerBase, ids: torch.Tensor, stop_ids: list[int], trim: bool) -> Answer:
    """A generated row as an answer: one with no end-of-turn token that does not end a sentence stopped at the
    limit mid-sentence, and is cut back to its last whole sentence (with `trim`) or marked cut."""
    text = tokenizer.decode(ids, skip_special_tokens=True).strip()
    if torch.isin(ids, torch.tensor(stop_ids, device=ids.device)).any() or ends_sentence(text):
        return Answer(text)
    whole = whole_sentences(text) if trim else None
    return Answer(text, cut=True) if whole is None else Answer(whole, trimmed=True)


def generate_tokens(
    model: nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: list[str], sampling: SamplingConfig,
    on_token: Callable[[int], None] | None = None, keep_hidden: bool = False,
) -> GeneratedBatch:
    """One answer per prompt, in one batch, as tensors for PPO; `on_token(n)` after each of the n tokens.

    `keep_hidden` also returns the decoder's last hidden state (after its final norm, as
    `SharedBase.hidden_states`) at the position before each response token: what the LM head sampled from."""
    device = _device(model)
    query = _encode(tokenizer, prompts, device)
    counting = StoppingCriteriaList([_EachToken(on_token, query["input_ids"].shape[1])] if on_token else [])
    # generate() runs under no_grad; no inference_mode here, so PPO can backpropagate through passes on these ids.
    with _eval_mode(model), _only_our_settings(model), _seeded(sampling.seed, device), \
            _newest_hidden(model, keep_hidden) as steps:
        config, sampler = _generation_config(model, tokenizer, sampling)
        out = model.generate(**query, generation_config=config, logits_processor=sampler, stopping_criteria=counting)
    response = out[:, query["input_ids"].shape[1]:]
    mask = mask_after_eos(response, eos_ids(model, tokenizer))
    response = response.masked_fill(mask == 0, tokenizer.pad_token_id)
    texts = [t.strip() for t in tokenizer.batch_decode(response, skip_special_tokens=True)]
    hidden = None
    if keep_hidden:
        if len(steps) != response.size(1):
            raise RuntimeError(f"generate ran {len(steps)} forward passes for {response.size(1)} new tokens")
        hidden = torch.stack(steps, 1)
    return GeneratedBatch(query["input_ids"], query["attention_mask"], response, mask, texts, hidden)


def mask_after_eos(ids: torch.Tensor, stop_ids: list[int]) -> torch.Tensor:
    """1 on every token up to and including the first stop token (`eos_ids`) of each row, 0 after it (long)."""
    is_eos = torch.isin(ids, torch.tensor(stop_ids, device=ids.device))
    eos_before = is_eos.long().cumsum(dim=1) - is_eos.long()  # EOS tokens strictly before each position
    return (eos_before == 0).long()


def stream(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompt: str,
    sampling: SamplingConfig,
    should_stop: ShouldStop | None = None,
) -> Iterator[str]:
    """Yield the answer to `prompt` in pieces as they are generated; stop early once `should_stop()` is true."""
    device = _device(model)
    query = _encode(tokenizer, [prompt], device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    closed = threading.Event()
    stop = _StopWhen(lambda: closed.is_set() or bool(should_stop and should_stop()))
    config, sampler = _generation_config(model, tokenizer, sampling)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with _only_our_settings(model), _seeded(sampling.seed, device), torch.inference_mode():
                model.generate(**query, generation_config=config, logits_processor=sampler, streamer=streamer,
                               stopping_criteria=StoppingCriteriaList([stop]))
        except BaseException as e:  # handed to the consuming thread below
            errors.append(e)
            streamer.end()

    with _eval_mode(model):
        thread = threading.Thread(target=run, name="studio-stream", daemon=True)
        thread.start()
        try:
            for piece in streamer:
                if piece:
                    yield piece
        finally:
            closed.set()
            thread.join()
    if errors:
        raise errors[0]


class _StopWhen(StoppingCriteria):
    """Stops every sequence of the batch once `should_stop()` is true."""

    def __init__(self, should_stop: ShouldStop):
        self.should_stop = should_stop

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        return torch.full((input_ids.shape[0],), bool(self.should_stop()), dtype=torch.bool, device=input_ids.device)


class _EachToken(StoppingCriteria):
    """Never stops; tells `on_token` how many tokens each answer has so far."""

    def __init__(self, on_token: Callable[[int], None], prompt_width: int):
        self.on_token, self.prompt_width = on_token, prompt_width

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        self.on_token(input_ids.shape[1] - self.prompt_width)
        return torch.zeros((input_ids.shape[0],), dtype=torch.bool, device=input_ids.device)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _encode(tokenizer: PreTrainedTokenizerBase, prompts: list[str], device: torch.device) -> dict[str, torch.Tensor]:
    """Chat-formatted, left-padded batch (the template already holds any BOS token)."""
    texts = [chat_prompt(tokenizer, p) for p in prompts]
    batch = tokenizer(texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False)
    return {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}


def eos_ids(model: nn.Module, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every token that ends an answer: the model's generation_config EOS ids, the tokenizer's EOS and the token
    its chat template ends the assistant's turn with (`<|eot_id|>`, `<end_of_turn>`, `<|end|>`, `<|im_end|>`)."""
    eos = model.generation_config.eos_token_id
    eos = [eos] if isinstance(eos, int) else list(eos or [])
    extra = {tokenizer.eos_token_id, end_of_turn_id(tokenizer)} - {None}
    return sorted(set(eos) | extra)


def _generation_config(model: nn.Module, tokenizer: PreTrainedTokenizerBase, sampling: SamplingConfig
                       ) -> tuple[GenerationConfig, LogitsProcessorList]:
    """generate's settings and logits processors for `sampling`: a sampled token is drawn by `_Sampler` and
    then picked greedily, so the config itself always says do_sample=False."""
    config = GenerationConfig(do_sample=False, max_new_tokens=sampling.max_new_tokens, repetition_penalty=1.0,
                              pad_token_id=tokenizer.pad_token_id, eos_token_id=eos_ids(model, tokenizer))
    sampler = [] if sampling.greedy else [_Sampler(float(sampling.temperature), float(sampling.top_p))]
    return config, LogitsProcessorList(sampler)


class _Sampler(LogitsProcessor):
    """Draws each row's next token from softmax(scores / temperature), top-p filtered, and leaves it the only
    finite score for generate's greedy pick.

    By hand because generate samples with torch.multinomial, which draws an exponential variate per vocabulary
    entry: 6.5 ms a step for 8 rows of SmolLM2's 49k on this CPU (a tenth of a decoding step), where inverting
    the cumulative distribution needs one uniform per row (0.4 ms; the running sum in float64 so that no token's
    share is lost to rounding). The same distribution, other draws for a seed."""

    def __init__(self, temperature: float, top_p: float):
        self.warpers = [TemperatureLogitsWarper(temperature)] + ([_TopP(top_p)] if top_p < 1 else [])

    def distribution(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """The scores whose softmax the token is drawn from."""
        for warp in self.warpers:
            scores = warp(input_ids, scores)
        return scores

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        cdf = self.distribution(input_ids, scores).float().softmax(-1).cumsum(-1, dtype=torch.float64)
        u = torch.rand(cdf.size(0), 1, dtype=torch.float64, device=cdf.device) * cdf[:, -1:]
        token = torch.searchsorted(cdf, u, right=True).clamp_(max=cdf.size(1) - 1)
        return torch.full_like(scores, float("-inf")).scatter_(1, token, 0.0)


class _TopP(LogitsProcessor):
    """transformers' `TopPLogitsWarper` rule (keep each token while the likelier ones hold less than `top_p`), found
    among each row's `TOP_K_FIRST` likeliest tokens, and among 16 times as many only in the rows whose nucleus
    reaches past them: sorting 49k scores a row was 121 ms of a 32-row decoding step on this CPU, the top 256 take
    5 ms, and at temperature 0.8 they hold the nucleus of 99% of the rows (bench/RESULTS.md section 32). Tokens tied
    with the least likely kept one are all kept (a sort keeps an arbitrary few of them)."""

    TOP_K_FIRST = 256

    def __init__(self, top_p: float):
        self.top_p = top_p

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        floor = self.floors(scores, min(self.TOP_K_FIRST, scores.size(-1)))
        return scores.masked_fill(scores < floor, float("-inf"))

    def floors(self, scores: torch.Tensor, k: int) -> torch.Tensor:
        """(rows, 1): each row's least likely score in its nucleus, from the top `k` where they hold it."""
        top = scores.topk(k, dim=-1).values
        probs = (top.double() - scores.double().logsumexp(-1, keepdim=True)).exp()
        kept = (probs.cumsum(-1) - probs < self.top_p).sum(-1, keepdim=True).clamp_(min=1)
        floor = top.gather(-1, kept - 1)
        beyond = (kept == k).squeeze(-1) & (k < scores.size(-1))  # the nucleus may go on past the top k
        if beyond.any():
            floor[beyond] = self.floors(scores[beyond], min(16 * k, scores.size(-1)))
        return floor


@contextmanager
def _only_our_settings(model: nn.Module) -> Iterator[None]:
    """For the call, the model's own generation_config holds only its token ids.

    `generate` fills every setting our GenerationConfig leaves unset (None) from the model's
    generation_config, and some cannot be set to "off" other than by None (min_p, suppress_tokens,
    bad_words_ids, ...): so the model's config itself is swapped for one without sampling settings.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    own = inner.generation_config
    inner.generation_config = GenerationConfig(**{key: getattr(own, key) for key in TOKEN_ID_FIELDS})
    try:
        yield
    finally:
        inner.generation_config = own


@contextmanager
def _newest_hidden(model: nn.Module, record: bool) -> Iterator[list[torch.Tensor]]:
    """While open (and `record`), the decoder's last hidden state at each row's newest position, per forward."""
    steps: list[torch.Tensor] = []
    if not record:
        yield steps
        return
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    handle = inner.get_decoder().register_forward_hook(lambda module, args, out: steps.append(out[0][:, -1]))
    try:
        yield steps
    finally:
        handle.remove()


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout, LoRA's included) for the duration, then every module's previous mode."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


@contextmanager
def _seeded(seed: int | None, device: torch.device) -> Iterator[None]:
    """Seed torch's RNGs for one call and restore their state afterwards (training's RNG stream is untouched)."""
    if seed is None:
        yield
        return
    accelerators = [] if device.type == "cpu" else [device]
    with torch.random.fork_rng(devices=accelerators, device_type=device.type if accelerators else "cuda"):
        torch.manual_seed(seed)
        yield
