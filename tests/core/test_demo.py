from studio.core import oversight_store as ov
from studio.core.demo import create_demo_project, demo_settings, tour_html
from studio.core.rules import Rule


def test_demo_project_is_ready_and_opening_it_again_adds_nothing(tmp_path):
    project = create_demo_project(tmp_path / "demo")
    counts = project.store.counts()
    assert counts["prompts"] == 20 and counts["demonstrations"] == 8
    assert [t for _, t in ov.principles(project.store)] == demo_settings()["principles"]
    Rule.parse(demo_settings()["rule"])          # the tour's rule is one the labeller accepts
    project.store.add_demo("mine", "kept")
    project.close()
    again = create_demo_project(tmp_path / "demo")
    assert again.store.counts()["demonstrations"] == 9
    assert "Rule labeller" in tour_html() and "Alarms" in tour_html()
