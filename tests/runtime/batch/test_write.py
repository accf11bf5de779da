"""runtime.batch's output directory: a commit cut short at any step is made whole by settle()."""

import os

import pytest

from runtime import UsageError
from runtime.batch.write import OutputDir

pytestmark = pytest.mark.runtime


def _hidden(parent) -> list[str]:
    return sorted(name for name in os.listdir(parent) if name.startswith("."))


def _written(out: OutputDir, text: str) -> None:
    with open(os.path.join(out.temporary, "part-0.csv"), "w") as f:
        f.write(text)


def _content(path) -> str:
    return (path / "part-0.csv").read_text()


def _cut_at(monkeypatch, step: int, after: bool) -> None:
    """os.replace interrupted (as a Ctrl-C would) at its ``step``-th call, just before or after
    it renames."""
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(src)
        if len(calls) == step and not after:
            raise KeyboardInterrupt
        real(src, dst)
        if len(calls) == step:
            raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", replace)


def test_a_commit_publishes_whole(tmp_path):
    out = OutputDir(str(tmp_path / "out"))
    _written(out, "new")
    out.commit()
    assert out.committed and out.settle()
    assert _content(tmp_path / "out") == "new" and _hidden(tmp_path) == []


def test_nothing_is_published_before_the_commit(tmp_path):
    out = OutputDir(str(tmp_path / "out"))
    assert out.settle() is False
    out.discard()
    assert os.listdir(tmp_path) == []


def test_cut_short_after_the_rename_into_place_it_is_published(tmp_path, monkeypatch):
    out = OutputDir(str(tmp_path / "out"))
    _written(out, "new")
    _cut_at(monkeypatch, 1, after=True)
    with pytest.raises(KeyboardInterrupt):
        out.commit()
    assert not out.committed  # the flag never set: settle finds out from the files
    assert out.settle() and out.committed
    assert _content(tmp_path / "out") == "new" and _hidden(tmp_path) == []


@pytest.mark.parametrize("step, after, published", [
    (1, False, False),  # before the old directory moves aside
    (1, True, False),  # the old one aside, the new one not yet in place
    (2, False, False),
    (2, True, True),  # the new one in place, the old one not yet removed
], ids=["before-aside", "after-aside", "before-into-place", "after-into-place"])
def test_an_overwrite_cut_short_keeps_the_old_output_or_publishes_the_new(tmp_path, monkeypatch, step, after,
                                                                          published):
    target = tmp_path / "out"
    target.mkdir()
    (target / "part-0.csv").write_text("old")
    out = OutputDir(str(target), overwrite=True)
    _written(out, "new")
    _cut_at(monkeypatch, step, after)
    with pytest.raises(KeyboardInterrupt):
        out.commit()
    monkeypatch.undo()
    assert out.settle() is published
    if not published:
        out.discard()
    assert _content(target) == ("new" if published else "old")
    assert _hidden(tmp_path) == []


def test_an_output_that_appeared_meanwhile_is_not_replaced(tmp_path):
    out = OutputDir(str(tmp_path / "out"))
    _written(out, "new")
    (tmp_path / "out").mkdir()
    with pytest.raises(UsageError, match="appeared while the job ran"):
        out.commit()
    assert out.settle() is False
    out.discard()
    assert os.listdir(tmp_path) == ["out"] and os.listdir(tmp_path / "out") == []
