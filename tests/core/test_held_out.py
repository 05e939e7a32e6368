from studio.core.held_out import data_size, held_out, held_out_note, recorded_split, size_text
from studio.core.ratings import Ratings
from studio.core.store import Store


def test_held_out_matches_the_engines_split():
    assert held_out(12, 0.1) == 1 and held_out(9, 0.5) == 0 and held_out(200, 0.1) == 20


def test_note_warns_and_says_how_many_more():
    note = held_out_note("reward", 1, 12, 0.1)
    assert note.startswith("Eval figures rest on 1 held-out prompt (of 12)") and "188 more ranked prompts" in note
    assert held_out_note("sft", 30, 300, 0.1) == "Eval figures rest on 30 held-out demonstrations (of 300)."
    assert "eval fraction above 0" in held_out_note("dpo", 0, 50, 0.0)
    assert "more rated prompts" in held_out_note("kto", 2, 25, 0.1)
    assert held_out_note("ppo", 5, 50, 0.1) == ""


def test_the_recorded_split_is_read_back_from_metrics():
    assert recorded_split({"eval_accuracy": 0.0, "eval_size": 1.0, "data_size": 12.0}) == (1, 12)
    assert recorded_split({"eval_accuracy": 0.0}) is None
    assert size_text("reward", 1) == "1 held-out prompt" and size_text("sft", 3) == "3 held-out demonstrations"


def test_data_size_counts_distinct_ranked_and_rated_prompts():
    store = Store(None)
    for prompt in ("a", "b"):
        pid = store.add_prompt(prompt)
        ids = [store.add_response(pid, t, "base") for t in ("x", "y", "z")]
        store.add_ranking(store.add_comparison(pid, ids), [[0], [1], [2]])
    store.add_demo("q", "a")
    c = store.add_prompt("c")
    rated = [store.add_response(c, "p", "base"), store.add_response(c, "q", "base"), store.responses(1)[0].id]
    for response in rated:  # all liked: no pair for the reward model, three examples for KTO
        Ratings(store).add(response, True, "me")
    assert data_size(store, "reward") == 2 and data_size(store, "sft") == 1
    assert data_size(store, "kto") == 2  # prompts "a" and "c"
