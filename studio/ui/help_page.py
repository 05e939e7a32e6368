"""The Help page: the four steps of alignment in plain words, and the keyboard shortcuts."""
from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

HELP_HTML = """
<h2>Align a small model with your own taste, in four steps</h2>
<ol>
<li><p><b>Demonstrations → SFT.</b> Write a few prompts with the answers you want (Demonstrations page).
Supervised fine-tuning teaches the model the format and tone of a good answer.</p></li>
<li><p><b>Rank → reward model.</b> On the Rank page the model answers each prompt several times and you
put the answers in order. A reward model learns your taste from those rankings and scores any new answer.</p></li>
<li><p><b>PPO.</b> The policy writes answers, the reward model scores them, and PPO nudges the policy
towards higher scores. A KL leash keeps it close to the SFT model so it cannot game the reward with nonsense.</p></li>
<li><p><b>DPO (the shortcut).</b> Direct preference optimisation learns straight from your rankings,
skipping the reward model and PPO. It is simpler and steadier, and often just as good for a small model.</p></li>
</ol>
<p>Then the Compare page shows the base, SFT, PPO and DPO answers to the same prompt side by side.
The Train page warns while PPO runs when it looks like it games the reward model (Alarms) and shows how
well each reward model ranks held-out pairs (Reward model health); the Oversight page lets a written rule or
principle label comparisons for you and checks PPO's answers against your own verdicts (gold checks).
Every demonstration and every ranking is saved the moment you make it.</p>

<h3>Keyboard shortcuts</h3>
<table cellpadding="4">
<tr><td><b>Ctrl+1 … Ctrl+6</b></td><td>Demonstrations, Rank, Train, Compare, Oversight, Help</td></tr>
<tr><td colspan="2"><i>Rank page</i></td></tr>
<tr><td><b>1 … K</b></td><td>the best answer, then the next best… (the last one is implied)</td></tr>
<tr><td><b>T</b></td><td>tie: all answers equally good</td></tr>
<tr><td><b>B</b></td><td>all answers bad</td></tr>
<tr><td><b>S</b></td><td>skip this prompt</td></tr>
<tr><td><b>Ctrl+Z</b></td><td>undo the last key or the last decision</td></tr>
<tr><td colspan="2"><i>Demonstrations page</i></td></tr>
<tr><td><b>Ctrl+N</b></td><td>new demonstration</td></tr>
<tr><td><b>Ctrl+S</b></td><td>save now (edits also save themselves a moment after you stop typing)</td></tr>
<tr><td><b>Ctrl+Z</b></td><td>outside the editor: bring back the last deleted demonstration</td></tr>
</table>
"""


class HelpPage(QWidget):
    """Static help text; the first page a new project shows."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.text = QTextBrowser()
        self.text.setHtml(HELP_HTML)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
