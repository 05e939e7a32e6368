"""The Help page: the steps of alignment in plain words, and the keyboard shortcuts."""
from __future__ import annotations

from PySide6.QtWidgets import QTextBrowser, QVBoxLayout, QWidget

HELP_HTML = """
<h2>Align a small model with your own taste, step by step</h2>
<ol>
<li><p><b>Demonstrations → SFT.</b> Write a few prompts with the answers you want (Demonstrations page).
Supervised fine-tuning teaches the model the format and tone of a good answer.</p></li>
<li><p><b>Rank → reward model.</b> On the Rank page the model answers each prompt several times and you
put the answers in order. A reward model learns your taste from those rankings and scores any new answer.</p></li>
<li><p><b>PPO.</b> The policy writes answers, the reward model scores them, and PPO nudges the policy
towards higher scores. A KL leash keeps it close to the SFT model so it cannot game the reward with nonsense.
<b>RLOO</b> does the same more simply: the policy answers each prompt several times and each
answer is judged against the average score of the others, so there is no value head to train.</p></li>
<li><p><b>DPO (the shortcut).</b> Direct preference optimisation learns straight from your rankings,
skipping the reward model and PPO. It is simpler and steadier, and often just as good for a small model.</p></li>
<li><p><b>Rate → KTO (one key per answer).</b> On the Rate page you judge one answer at a time, good or bad.
KTO learns from those ratings alone, no side-by-side ranking needed. A prompt with a liked and a disliked
answer also gives the reward model and DPO a preference pair.</p></li>
</ol>
<p>Then the Compare page shows the base, SFT, PPO, RLOO, DPO and KTO answers to the same prompt side by side.
The Train page warns while PPO runs when it looks like it games the reward model (Alarms: each names the
comparisons to label next and offers a round, "Label what the policy writes now") and shows how
well each reward model ranks held-out pairs (Reward model health); the Oversight page lets a written rule or
principle label comparisons for you and checks PPO's answers against your own verdicts (gold checks).
Every demonstration and every ranking is saved the moment you make it.</p>
<p>Once a reward model exists, the Rank page asks first about the comparisons it is least sure of (the
labels that teach it most) and tells you its guess only after you decided. Now and then a comparison you
ranked earlier comes back, shuffled: the Annotators page shows how often you agree with yourself, with the
other annotators (Krippendorff's alpha) and with the reward model. Write the project's guidelines beside
the Rank page, so everyone ranks by the same rules.</p>

<h3>Keyboard shortcuts</h3>
<table cellpadding="4">
<tr><td><b>Ctrl+1 … Ctrl+8</b></td><td>Demonstrations, Rank, Rate, Train, Compare, Oversight, Annotators, Help</td></tr>
<tr><td colspan="2"><i>Rank page</i></td></tr>
<tr><td><b>1 … K</b></td><td>the best answer, then the next best… (the last one is implied)</td></tr>
<tr><td><b>T</b></td><td>tie: all answers equally good</td></tr>
<tr><td><b>B</b></td><td>all answers bad</td></tr>
<tr><td><b>S</b></td><td>skip this prompt</td></tr>
<tr><td><b>Ctrl+Z</b></td><td>undo the last key or the last decision</td></tr>
<tr><td colspan="2"><i>Rate page</i></td></tr>
<tr><td><b>↑ or J</b></td><td>a good answer</td></tr>
<tr><td><b>↓ or K</b></td><td>a bad answer</td></tr>
<tr><td><b>S</b></td><td>skip this answer (nothing is stored)</td></tr>
<tr><td><b>Ctrl+Z</b></td><td>undo the last rating or skip</td></tr>
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
