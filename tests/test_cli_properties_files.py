"""Random sequences of the newer CLI commands fed hostile files (hypothesis, stateful; issue 23 "Hold the line").

Inputs and outputs are drawn from a FIFO, /dev/zero, symlinks (to the project's database, to /etc/hostname), the
project's own files, another project's studio.db in WAL mode, an empty file, a folder, junk bytes and well-formed
files. After every step: the command succeeded, or said exactly one `error:` line (never a traceback); the project's
database passes `PRAGMA integrity_check`; a refused command changed no label (rankings, ratings, their counts) and no
file at all; a successful one wrote only under `out/` (replacing what was there only with --force) and lost no label.
Commands that need a model run only up to their refusal: loading one fails the test (`ModelLoaded`).
"""
import contextlib
import faulthandler
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import tempfile
import threading
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from studio.cli import main
from studio.core.project import Project
from tests.ui.seed import seed_data

STEP_TIMEOUT_S = 30  # a step that waits this long is a hang: the FIFO is opened from the other end to free it
HARD_TIMEOUT_S = 120  # a step stuck where that cannot free it ends the test process (with every thread's stack)
SOURCES = ["fifo", "/dev/zero", "link-to-db", "link-to-hostname", "studio.db", "project.json", "runs", "runs/x",
           "other-db", "empty", "folder", "junk", "missing", "records"]
TARGETS = ["fifo", "link-to-zero", "link-to-db", "link-to-hostname", "studio.db", "project.json", "runs", "runs/x",
           "other-db", "empty", "folder", "model", "missing/x", "out/new", "out/taken.jsonl", "out/full"]
READERS = ["pack import", "gold import", "guidelines --set", "runs import", "runs import --kind sft"]
RECORD = {
    "demos": st.fixed_dictionaries({"prompt": st.sampled_from(["a", "", "é"]), "completion": st.just("b")}),
    "prompts": st.fixed_dictionaries({"prompt": st.sampled_from(["q", "", "tell me about cats"])}),
    "rankings": st.fixed_dictionaries({"comparison_id": st.integers(0, 7), "ranking": st.sampled_from(
        [[0, 1], [1, 0], [0, 0], [2], []])}),
    "prefs": st.fixed_dictionaries({"prompt": st.just("p"), "chosen": st.sampled_from(["x", ""]),
                                    "rejected": st.just("y")}),
    "ratings": st.fixed_dictionaries({"prompt": st.sampled_from(["describe tea", "r"]),
                                      "completion": st.sampled_from(["a banana answer 2", "c", ""]),
                                      "label": st.sampled_from([True, False, 1, None])}),
}
RECORD["gold"] = RECORD["rankings"]
junk = st.binary(max_size=40) | st.sampled_from([b"SQLite format 3\x00" + b"\x00" * 84, b"{", b"\xff\xfe"])


class ModelLoaded(BaseException):
    """A model's files being read: the commands here must refuse before (BaseException: no handler catches it)."""


def _load(*_args, **_kwargs):
    raise ModelLoaded


@contextlib.contextmanager
def watchdog(fifo: Path):
    """Run the block; after STEP_TIMEOUT_S open `fifo` from both ends (freeing a reader or writer blocked on it) and
    report the hang as a failure; after HARD_TIMEOUT_S end the process."""
    hung = threading.Event()

    def free() -> None:
        hung.set()
        for flags in (os.O_RDONLY | os.O_NONBLOCK, os.O_WRONLY | os.O_NONBLOCK):
            with contextlib.suppress(OSError):
                os.close(os.open(fifo, flags))

    timer = threading.Timer(STEP_TIMEOUT_S, free)
    timer.start()
    faulthandler.dump_traceback_later(HARD_TIMEOUT_S, exit=True)
    try:
        yield
    finally:
        timer.cancel()
        faulthandler.cancel_dump_traceback_later()
    assert not hung.is_set(), f"the command waited over {STEP_TIMEOUT_S} s (a FIFO or device read to its end?)"


def fingerprint(path: Path) -> tuple:
    """What a file is, without opening anything but regular files (and without following links)."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return "link", os.readlink(path)
    if stat.S_ISREG(mode):
        return "file", hashlib.sha256(path.read_bytes()).hexdigest()
    return "other", stat.S_IFMT(mode)


@contextlib.contextmanager
def read_only(db: Path):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        yield conn
    finally:
        conn.close()


class FilesMachine(RuleBasedStateMachine):
    model_dir: Path  # the tests' tiny model (set by `_tiny_model`)

    def __init__(self):
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="cli-files-"))
        self.root, self.out, self.n = self.tmp / "p", self.tmp / "out", 0
        project = Project.init(self.root, model=self.model_dir)
        seed_data(project.store)
        project.close()
        self.other = self.tmp / "other" / "studio.db"
        live = Project.init(self.tmp / "live", model=self.model_dir)
        live.store.db.execute("PRAGMA journal_mode=WAL")
        seed_data(live.store)
        shutil.copytree(live.root, self.other.parent)  # copied in use: its -wal holds rows not checkpointed yet
        live.close()
        shutil.rmtree(live.root)
        self.hostile_files()
        (self.tmp / "folder").mkdir()
        (self.tmp / "folder" / "note.txt").write_text("mine")
        (self.out / "full").mkdir(parents=True)
        (self.out / "full" / "keep.txt").write_text("mine")
        (self.out / "taken.jsonl").write_text("mine\n")
        ratings = self.tmp / "seed-ratings.jsonl"
        ratings.write_text('{"prompt": "describe tea", "completion": "a banana answer 2", "label": true}\n')
        self.patches = [mock.patch("studio.training.models.AutoTokenizer.from_pretrained", _load),
                        mock.patch("studio.training.models._gguf_cache", _load)]
        for patch in self.patches:
            patch.start()
        self.cli("ratings", "import", self.root, ratings)
        assert self.last[0] == 0, self.last

    def hostile_files(self) -> None:
        """(Re)make the FIFO, the links and the empty file, which an export with --force may have replaced."""
        links = {"link-to-db": self.root / "studio.db", "link-to-zero": Path("/dev/zero"),  # never /dev/zero itself
                 "link-to-hostname": Path("/etc/hostname")}
        for name, to in links.items():
            if not (self.tmp / name).is_symlink():
                (self.tmp / name).unlink(missing_ok=True)
                (self.tmp / name).symlink_to(to)
        if not (self.tmp / "fifo").is_fifo():
            (self.tmp / "fifo").unlink(missing_ok=True)
            os.mkfifo(self.tmp / "fifo")
        (self.tmp / "empty").write_bytes(b"")
        shutil.rmtree(self.tmp / "missing", ignore_errors=True)

    def teardown(self):
        for patch in self.patches:
            patch.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- what is watched -------------------------------------------------------------------------------------------
    def labels(self) -> dict:
        with read_only(self.root / "studio.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            return {table: set(conn.execute(f"SELECT * FROM {table}").fetchall())
                    for table in ("rankings", "ratings", "rating_repeats", "comparisons", "demonstrations")}

    def files(self) -> dict:
        """Every path under the test folder and the model, and /etc/hostname; the project's database aside."""
        skip = {self.root / f"studio.db{end}" for end in ("", "-wal", "-shm", "-journal")}
        found = {Path("/etc/hostname"): fingerprint(Path("/etc/hostname"))}
        for top in (self.tmp, self.model_dir):
            for folder, dirs, names in os.walk(top):
                for name in dirs + names:
                    path = Path(folder, name)
                    if path not in skip:
                        found[path] = fingerprint(path)
        return found

    def path(self, name: str) -> Path:
        where = {"/dev/zero": Path("/dev/zero"), "other-db": self.other, "model": self.model_dir / "config.json"}
        if name in where:
            return where[name]
        if name in ("studio.db", "project.json", "runs", "runs/x"):
            return self.root / name
        return (self.out if name.startswith("out/") else self.tmp) / name.removeprefix("out/")

    def source(self, data, kind: str) -> Path:
        name = data.draw(st.sampled_from(SOURCES), label="source")
        if name == "junk":
            self.n += 1
            path = self.tmp / f"junk{self.n}"
            path.write_bytes(data.draw(junk, label="junk"))
            return path
        if name == "records":
            self.n += 1
            path = self.tmp / f"in{self.n}.jsonl"
            lines = data.draw(st.lists(RECORD.get(kind, RECORD["rankings"]), max_size=3), label="records")
            path.write_text("".join(json.dumps(r) + "\n" for r in lines))
            return path
        return self.path(name)

    def cli(self, *argv, written: Path | None = None) -> tuple[int, str, str]:
        """Run the CLI in this process; `written`: the path a successful run may write besides `out/`."""
        self.hostile_files()
        self.before, self.files_before = self.labels(), self.files()
        out, err = io.StringIO(), io.StringIO()
        with watchdog(self.tmp / "fifo"), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main([str(a) for a in argv])
            except ModelLoaded:
                raise AssertionError(f"{argv} started loading a model") from None
        self.last, self.force, self.written = (rc, out.getvalue(), err.getvalue()), "--force" in argv, written
        self.after, self.files_after = self.labels(), self.files()
        return self.last

    # -- commands --------------------------------------------------------------------------------------------------
    @rule(data=st.data(), kind=st.sampled_from(["demos", "prompts", "rankings", "prefs", "ratings"]))
    def import_file(self, data, kind):
        self.cli(kind, "import", self.root, self.source(data, kind))

    @rule(data=st.data(), command=st.sampled_from(READERS))
    def read_file(self, data, command):
        self.read(command, self.source(data, "gold"))

    @rule(command=st.sampled_from(READERS + ["prefs import", "ratings import"]),
          which=st.sampled_from(["other-db", "studio.db", "link-to-db"]))
    def read_a_database(self, command, which):
        """A project's database given as the file to read: read-only, so even a pending -wal stays as it was."""
        self.read(command, self.path(which))

    def read(self, command: str, source: Path) -> None:
        words = command.split()
        argv = [words[0], self.root, *words[1:], source] if words[0] == "guidelines" else \
            [*words[:2], self.root, *words[2:], source]
        rc, out, _ = self.cli(*argv)
        if rc == 0 and words[0] == "runs":
            raise AssertionError(f"{source} imported as a run: {out}")

    @rule(command=st.sampled_from(["demos", "prefs", "ratings", "pack", "gold", "job", "run"]),
          where=st.sampled_from(TARGETS), force=st.booleans())
    def export(self, command, where, force):
        path = self.path(where)
        argv = {"pack": ["pack", "export", self.root, "--out", path],
                "gold": ["gold", "export", self.root, path, "--run", "latest:ppo"],
                "job": ["job", "export", self.root, "--kind", "sft", "--out", path],
                "run": ["export", self.root, "--run", "latest:sft", "--out", path]}.get(
            command, [command, "export", self.root, path])
        force = force and command != "job"  # a job folder is always new
        rc, out, _ = self.cli(*argv, *(["--force"] if force else []), written=path)
        if rc == 0:
            assert path.exists(), (argv, out)

    @precondition(lambda self: any(self.out.glob("new*")))
    @rule()
    def import_what_was_exported(self):
        """A pack, or a JSONL file, the studio just wrote, read back in: adds nothing it did not report."""
        new = self.out / "new"
        if new.is_file() and new.read_bytes().startswith(b"SQLite format 3"):
            rc, out, err = self.cli("pack", "import", self.root, new)
            assert rc == 0 and out.startswith("imported 0 rankings, 0 ratings"), (out, err)
        elif new.is_file():
            self.cli("rankings", "import", self.root, new)

    @rule(data=st.data(), command=st.sampled_from(["label rule", "label ai", "revise", "models"]))
    def label_or_list(self, data, command):
        """A rule labels (or is refused); a judge is refused before a model loads: an empty principle, or a judge
        that is no model (`ModelLoaded` if not); `models` lists what it finds."""
        if command == "label rule":
            rule_ = data.draw(st.sampled_from(["longer", "shorter", "contains:banana", "avoids:", "regex:(",
                                               "regex:b.n", "nope", "contains:"]))
            limit = data.draw(st.sampled_from([[], ["--limit", "0"], ["--limit", "1"]]))
            self.cli("label", "rule", self.root, "--rule", rule_, *limit)
        elif command == "models":
            rc, out, _ = self.cli("models", "--json")
            assert rc == 0 and isinstance(json.loads(out), list)
        else:
            principle = data.draw(st.sampled_from(["be kind", " "]))
            judge = data.draw(st.sampled_from(SOURCES[:-1] + ["model"]))
            argv = ["label", "ai", self.root] if command == "label ai" else \
                ["revise", self.root, "--prompt", "hi", "--answer", "yo", "--save"]
            assert self.cli(*argv, "--principle", principle, "--judge", self.path(judge))[0] == 1

    # -- after every step ------------------------------------------------------------------------------------------
    def is_written(self, path: Path) -> bool:
        """Whether `path` is the command's output, in it, or a folder made to hold it (job export makes parents)."""
        return path.is_relative_to(self.written) or path in self.written.parents and path not in self.files_before

    @invariant()
    def one_line_and_nothing_lost(self):
        rc, _, err = self.last
        assert rc in (0, 1) and "Traceback" not in err, err
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert len(errors) == (rc == 1), err
        changed = {p for p in self.files_before.keys() | self.files_after.keys()
                   if self.files_before.get(p) != self.files_after.get(p)}
        if rc == 1:
            assert self.after == self.before, "a refused command changed the project's labels"
            assert not changed, f"a refused command changed {sorted(map(str, changed))}"
            return
        assert all(self.before[t] <= self.after[t] for t in ("rankings", "demonstrations", "comparisons")), \
            "a label or answer was lost or overwritten"
        assert all(p.is_relative_to(self.out) or self.written and self.is_written(p) for p in changed), \
            f"{err} wrote {sorted(map(str, changed))}"
        replaced = {p for p in changed if p in self.files_before and not p.is_relative_to(self.out)}
        users = {self.out / "taken.jsonl", self.out / "full" / "keep.txt"}
        assert self.force or not (replaced | changed & users), "the user's file was replaced without --force"


# no shrinking: each example costs seconds, so a failure is reported as found (every step is printed) at once
FilesMachine.TestCase.settings = settings(max_examples=25, stateful_step_count=10, deadline=None,
                                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
TestFilesMachine = FilesMachine.TestCase


@pytest.fixture(autouse=True)
def _tiny_model(tiny_model_dir):
    FilesMachine.model_dir = tiny_model_dir
