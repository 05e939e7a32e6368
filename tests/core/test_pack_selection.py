"""What goes into a pack: the first `count` unranked comparisons in the chosen order (the reward model's most
informative first, not arrival), and the first `answers` unrated answers that are in no packed comparison."""
from studio.core import active, packs
from studio.core.active import Guess
from studio.core.project import Project


def test_a_pack_holds_the_most_informative_comparisons_and_count_answers(tmp_path):
    project = Project.init(tmp_path / "home")
    store = project.store
    ids = []
    for i in range(4):
        p = store.add_prompt(f"prompt {i}")
        ids.append(store.add_comparison(p, [store.add_response(p, f"answer {i}.{j}", "base") for j in range(2)]))
    run = store.create_run("reward", {})
    store.update_run(run, status="finished")
    active.save_guesses(store, run, [Guess(c, run, 0.5, spread, [0.5, 0.5], False, "bootstrap")
                                     for c, spread in zip(ids, [0.1, 0.4, 0.0, 0.3])])
    packed = packs.export_pack(store, tmp_path / "u.pack", count=2, order="uncertain", answers=3)
    assert (packed.comparisons, packed.answers) == (2, 3)
    with packs.open_pack(tmp_path / "u.pack") as pack:
        assert [c.prompt for c in pack.comparisons()] == ["prompt 1", "prompt 3"]
        loose = [row[0] for row in pack.db.execute("SELECT r.text FROM pack_answers a JOIN responses r "
                                                   "ON r.id = a.response_id ORDER BY a.rowid")]
    assert loose == ["answer 0.0", "answer 0.1", "answer 2.0"]
    packs.export_pack(store, tmp_path / "a.pack", count=2)
    with packs.open_pack(tmp_path / "a.pack") as pack:
        assert [c.prompt for c in pack.comparisons()] == ["prompt 0", "prompt 1"]
    project.close()
