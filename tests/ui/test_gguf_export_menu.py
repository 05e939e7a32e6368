"""File > Export > GGUF: the export runs in a job, streams the converter's lines, and reports failure in one line."""
from pathlib import Path

from studio.ui.main_window import MainWindow
from tests.ui.helpers import show


def adapter_run(ctx, model_dir: Path) -> int:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), LoraConfig(r=2, target_modules=["q_proj"]))
    store = ctx.store
    run_id = store.create_run("sft", {})
    model.save_pretrained(ctx.project.run_dir(run_id) / "adapter")
    store.update_run(run_id, status="finished", artifact=f"runs/{run_id}/adapter")
    return run_id


def test_gguf_export_reports_the_converters_last_error_in_the_banner(qtbot, ctx, tiny_model_dir, tmp_path):
    window = show(qtbot, MainWindow(ctx))
    export_menu = next(a.menu() for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Export")
    assert any(a.text().startswith("GGUF for llama.cpp") for a in export_menu.actions())
    run_id = adapter_run(ctx, tiny_model_dir)
    lines = []
    # the tiny model's char-level tokenizer is unknown to llama.cpp, so its converter fails
    job = window.export_gguf(run_id, str(tmp_path / "tiny.gguf"), "f16")
    job.message.connect(lines.append)
    with qtbot.waitSignal(job.failed, timeout=120_000):
        pass
    qtbot.waitUntil(window.banner.isVisible)
    assert "GGUF converter exited with code 1: NotImplementedError: BPE pre-tokenizer" in window.banner.label.text()
    assert any("Converting to GGUF" in line for line in lines)
    assert not (tmp_path / "tiny.gguf").exists() and not (tmp_path / "Modelfile").exists()
