from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from studio.ui.demos_page import DemosPage, render_chatml
from tests.ui.helpers import show


def test_render_chatml():
    assert render_chatml("Hi", "Hello!") == ("<|im_start|>user\nHi<|im_end|>\n"
                                             "<|im_start|>assistant\nHello!<|im_end|>\n")
    assert render_chatml("Q", "A", system="Be brief").startswith("<|im_start|>system\nBe brief<|im_end|>\n")


def test_type_save_delete_undo(qtbot, ctx):
    page = show(qtbot, DemosPage(ctx))
    page.new_demo()
    qtbot.keyClicks(page.prompt_edit, "What is 2+2?")
    qtbot.keyClicks(page.response_edit, "4.")
    assert "<|im_start|>assistant\n4.<|im_end|>" in page.preview.toPlainText()
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    [demo] = ctx.store.demos()
    assert (demo.prompt, demo.response) == ("What is 2+2?", "4.")
    assert page.list.count() == 1

    page.delete()
    assert ctx.store.demos() == [] and page.list.count() == 0
    qtbot.keyClick(page.windowHandle(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ctx.store.demos() == [demo]
    assert page.list.count() == 1 and page.prompt_edit.toPlainText() == "What is 2+2?"


def test_autosave_after_typing_pause(qtbot, ctx):
    demo_id = ctx.store.add_demo("Q", "A")
    page = show(qtbot, DemosPage(ctx))
    assert page.prompt_edit.toPlainText() == "Q"
    page.response_edit.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(page.response_edit, "nswer")
    qtbot.waitUntil(lambda: ctx.store.demos()[0].response == "Answer", timeout=3000)
    assert ctx.store.demos()[0].id == demo_id


def test_empty_prompt_is_refused_and_changes_nothing(qtbot, ctx):
    ctx.store.add_demo("Q", "A")
    page = show(qtbot, DemosPage(ctx))
    page.prompt_edit.clear()
    assert page.save() is False
    assert "prompt" in page.message.text() and ctx.store.demos()[0].prompt == "Q"


def test_selecting_another_demo_saves_and_loads_it(qtbot, ctx):
    ctx.store.add_demo("first", "one")
    ctx.store.add_demo("second", "two")
    page = show(qtbot, DemosPage(ctx))
    page.response_edit.setPlainText("uno")
    page.list.setCurrentRow(1)
    qtbot.waitUntil(lambda: page.prompt_edit.toPlainText() == "second")
    assert [d.response for d in ctx.store.demos()] == ["uno", "two"]
    page.filter.setText("seco")
    assert page.list.count() == 1


def test_import_and_export_run_as_jobs(qtbot, ctx, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"prompt": "P1", "completion": "C1"}\n{"prompt": "P2", "completion": "C2"}\n')
    page = show(qtbot, DemosPage(ctx))
    page.import_jsonl(str(source))
    qtbot.waitUntil(lambda: page.list.count() == 2, timeout=10000)
    target = tmp_path / "out.jsonl"
    page.export_jsonl(str(target))
    qtbot.waitUntil(lambda: "Exported 2" in page.message.text(), timeout=10000)
    assert target.read_text().count("\n") == 2

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": ""}\n')
    page.import_jsonl(str(bad))
    qtbot.waitUntil(lambda: "Import failed" in page.message.text(), timeout=10000)
    assert len(ctx.store.demos()) == 2


def test_editor_follows_the_search_so_delete_never_hits_a_hidden_demo(qtbot, ctx):
    cats = ctx.store.add_demo("About cats", "Cats purr.")
    dogs = ctx.store.add_demo("About dogs", "Dogs bark.")
    page = show(qtbot, DemosPage(ctx))
    assert page.prompt_edit.toPlainText() == "About cats"
    qtbot.keyClicks(page.filter, "dogs")
    assert page.list.count() == 1 and page.prompt_edit.toPlainText() == "About dogs"
    page.delete()  # acts on the demo the list shows, not on the hidden one
    assert [d.id for d in ctx.store.demos()] == [cats]
    page.filter.setText("nothing matches")
    assert page.list.count() == 0 and page.prompt_edit.toPlainText() == ""
    page.delete()
    assert [d.id for d in ctx.store.demos()] == [cats] and dogs not in [d.id for d in ctx.store.demos()]
    page.filter.clear()
    assert page.list.count() == 1
