from studio.ui.held_out import data_size, held_out, held_out_note


def test_held_out_matches_the_engines_split():
    assert held_out(12, 0.1) == 1 and held_out(9, 0.5) == 0 and held_out(200, 0.1) == 20


def test_note_warns_and_says_how_many_more():
    note = held_out_note("reward", 12, 0.1)
    assert note.startswith("Eval figures rest on 1 held-out prompt (of 12)") and "188 more ranked prompts" in note
    assert held_out_note("sft", 300, 0.1) == "Eval figures rest on 30 held-out demonstrations (of 300)."
    assert "eval fraction above 0" in held_out_note("dpo", 50, 0.0)
    assert held_out_note("ppo", 50, 0.1) == ""


def test_data_size_counts_distinct_ranked_prompts(ctx):
    for prompt in ("a", "b"):
        pid = ctx.store.add_prompt(prompt)
        ids = [ctx.store.add_response(pid, t, "base") for t in ("x", "y", "z")]
        ctx.store.add_ranking(ctx.store.add_comparison(pid, ids), [[0], [1], [2]])
    ctx.store.add_demo("q", "a")
    assert data_size(ctx.store, "reward") == 2 and data_size(ctx.store, "sft") == 1
