"""Random sequences of CLI commands with random files against one project (hypothesis, stateful).

Whatever is thrown at it, every command exits 0, or 1 with exactly one `error:` line on stderr and no
traceback; a failed command changes nothing, and a successful one changes the counts only by what it reports.
The newer commands (packs, gold, jobs, runs, judges, guidelines, exports) fed hostile files:
`test_cli_properties_files.py`.
"""
import contextlib
import io
import json
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from studio.cli import main
from studio.core.project import Project

KINDS = ("demos", "prompts", "rankings", "prefs")
text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
RECORDS = {
    "demos": st.fixed_dictionaries({"prompt": text, "completion": text}, optional={"system": text}),
    "prompts": st.fixed_dictionaries({"prompt": text}),
    "rankings": st.fixed_dictionaries({"comparison_id": st.integers(0, 6),
                                       "ranking": st.lists(st.integers(-1, 3), max_size=4)},
                                      optional={"annotator": st.sampled_from(["a", "b", ""])})
    | st.fixed_dictionaries({"comparison_id": st.integers(1, 6), "skip": st.just(True)}),
    "prefs": st.fixed_dictionaries({"prompt": text, "chosen": st.sampled_from(["x", "y", ""]),
                                    "rejected": st.sampled_from(["x", "z", " "])}),
}
junk = st.sampled_from([b"", b"\n", b"{", b"[]", b"null", b"\xff\xfe", b'{"prompt": 1}', b"  ", b"\x00"])
REFS = st.sampled_from(["1", "latest:sft", "latest:nope", "²", "99999999999999999999999", "-1", "base", " 2 "])


def lines_for(kind: str):
    record = RECORDS[kind].map(lambda r: json.dumps(r, ensure_ascii=False).encode())
    return st.lists(record | junk, max_size=5).map(b"\n".join)


class CliMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="cli-props-"))
        self.root = self.tmp / "p"
        Project.init(self.root).close()
        self.files = 0
        self.last = (0, "", "")
        self.before = self.after = self.counts()

    def teardown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def counts(self) -> dict:
        project = Project.open(self.root)
        try:
            return project.store.counts()
        finally:
            project.close()

    def cli(self, *argv) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        self.before = self.counts()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = main([str(a) for a in argv])
        self.last = (rc, out.getvalue(), err.getvalue())
        self.after = self.counts()
        return self.last

    def file(self, data: bytes) -> Path:
        self.files += 1
        path = self.tmp / f"in{self.files}.jsonl"
        path.write_bytes(data)
        return path

    def delta(self, key: str) -> int:
        return self.after[key] - self.before[key]

    @rule(data=st.data(), kind=st.sampled_from(KINDS))
    def import_file(self, data, kind):
        rc, out, _ = self.cli(kind, "import", self.root, self.file(data.draw(lines_for(kind))))
        if rc != 0:
            return
        n = int(re.search(r"imported (\d+)", out).group(1))
        assert n >= 1
        changed = {key for key in self.after if self.delta(key)}
        if kind == "demos":
            assert self.delta("demonstrations") == n and changed == {"demonstrations"}
        elif kind == "prompts":
            assert 0 <= self.delta("prompts") <= n and changed <= {"prompts", "unranked", "comparisons"}
            assert self.delta("comparisons") == 0
        elif kind == "rankings":
            assert 0 <= self.delta("rankings") <= n and self.delta("comparisons") == 0
        else:
            assert self.delta("comparisons") == self.delta("rankings") == self.delta("pairs") == n
            assert 0 <= self.delta("prompts") <= n

    @rule(kind=st.sampled_from(["demos", "prefs", "comparisons"]),
          where=st.sampled_from(["outside", "studio.db", "project.json", "runs/x", ".", "missing/x", "dir"]))
    def export_file(self, kind, where):
        target = {"outside": self.tmp / "out.jsonl", "dir": self.tmp,
                  "missing/x": self.tmp / "missing" / "x"}.get(where, self.root / where)
        rc, out, _ = self.cli(kind, "export", self.root, target)
        if rc == 0:
            n = int(re.search(r"exported (\d+)", out).group(1))
            assert where == "outside" and len(target.read_bytes().splitlines()) == n

    @rule(ref=REFS.filter(lambda r: r != "base"), option=st.sampled_from(["--resume", "--init"]))
    def train_with_a_reference(self, ref, option):
        rc, _, err = self.cli("train", "dpo", self.root, option, ref, "--steps", "1")
        assert rc == 1 and "Loading" not in err  # no run or no pairs: refused before the model loads

    @rule(ref=REFS)
    def export_a_run(self, ref):
        assert self.cli("export", self.root, "--run", ref, "--out", self.tmp / "adapter")[0] == 1

    @rule()
    def status(self):
        rc, out, _ = self.cli("status", self.root, "--json")
        report = json.loads(out)  # the store's counts, and more (ratings, agreement, runs)
        counts = {k: v for k, v in self.after.items() if k != "runs"}  # status lists the runs themselves
        assert rc == 0 and {k: report[k] for k in counts} == counts

    @invariant()
    def one_line_or_success(self):
        rc, out, err = self.last
        assert rc in (0, 1) and "Traceback" not in err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        if rc == 1:
            assert len(errors) == 1, err
            assert self.after == self.before, "a refused command changed the project"
        else:
            assert errors == []


CliMachine.TestCase.settings = settings(max_examples=15, stateful_step_count=10, deadline=None)
TestCliMachine = CliMachine.TestCase
