"""The command line: results equal the library's, user mistakes end in one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.cli import _parser as cli_parser
from sknegsample.cli import main
from sknegsample.cli import mine as cli_mine
from sknegsample.datasets import make_pairs
from sknegsample.text import export_triplets

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def npy_pairs(tmp_path):
    point, counter = make_pairs(60, 5, random_state=0)
    np.save(tmp_path / "point.npy", point)
    np.save(tmp_path / "counter.npy", counter)
    return tmp_path, point, counter


def run(capsys, *argv):
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def assert_user_error(status, err, match):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sknegsample: error: "), err
    assert match in lines[0], lines[0]


@pytest.mark.parametrize("argv", [[], ["demo"], ["mine"], ["evaluate"], ["audit"]])
def test_help(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: sknegsample {' '.join(argv)}".rstrip())
    for command in ("demo", "mine", "evaluate", "audit") if not argv else ("--quiet",):
        assert command in out


def test_python_m_and_version():
    result = subprocess.run([sys.executable, "-m", "sknegsample", "--version"],
                            capture_output=True, text=True, check=True)
    from sknegsample import __version__
    assert result.stdout.strip() == f"sknegsample {__version__}"


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["mine", "a.npy", "b.npy", "-o", "c.npy", "--random-rate", "2"])
    assert exc.value.code == 2
    assert "must be in [0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2


@pytest.mark.parametrize("options", [
    ["-n", "3", "--random-rate", "0.4"],
    ["-n", "2", "--random-rate", "0.3", "--max-negative-uses", "2", "--metric", "cosine"],
    ["--random-rate", "0", "--n-candidates", "4", "--hard-selection", "uniform",
     "--skip-nearest", "1", "--positive-margin", "0.9", "--algorithm", "ball_tree",
     "--leaf-size", "4"],
])
def test_mine_equals_fit_transform(npy_pairs, capsys, monkeypatch, options):
    tmp, point, counter = npy_pairs
    monkeypatch.setattr(cli_mine, "_MINE_CHUNK", 7)  # several chunks
    out = tmp / "neg.npy"
    status, stdout, _ = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy", "-o",
                            out, "--random-state", 3, *options)
    assert status == 0 and "60 pairs" in stdout
    args = cli_parser.build_parser().parse_args(["mine", "p", "c", "-o", "o", *options])
    sampler = HybridNegativeSampler(
        n_negatives=args.n_negatives, random_rate=args.random_rate,
        n_candidates=args.n_candidates, hard_selection=args.hard_selection,
        skip_nearest=args.skip_nearest, positive_margin=args.positive_margin,
        max_negative_uses=args.max_negative_uses, metric=args.metric,
        algorithm=args.algorithm, leaf_size=args.leaf_size, random_state=3)
    expected = sampler.fit_transform(point, counter)
    got = np.load(out)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, expected)
    assert sorted(p.name for p in tmp.iterdir()) == ["counter.npy", "neg.npy", "point.npy"]


def test_mine_writes_text_triplets(npy_pairs, capsys):
    tmp, point, _ = npy_pairs
    point_text = [f"point {i}" for i in range(60)]
    counter_text = [f"counter {i}\nwith a line break" for i in range(60)]
    (tmp / "p.txt").write_text("\n".join(point_text) + "\n", encoding="utf-8")
    (tmp / "c.jsonl").write_text(
        "".join(json.dumps({"text": t}) + "\n" for t in counter_text), encoding="utf-8")
    status, stdout, _ = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy", "-o",
                            tmp / "n.npy", "-n", 2, "--point-text", tmp / "p.txt",
                            "--counter-text", tmp / "c.jsonl", "--triplets", tmp / "t.jsonl",
                            "--triplet-format", "n-tuple", "--quiet")
    assert status == 0 and stdout == ""
    records = [json.loads(line) for line in (tmp / "t.jsonl").read_text().splitlines()]
    assert records == export_triplets(np.load(tmp / "n.npy"), point_text, counter_text,
                                      output_format="n-tuple")


@pytest.mark.parametrize("setup, argv, match", [
    (None, ["missing.npy", "counter.npy"], "point file 'missing.npy' does not exist"),
    (("bad.npy", np.zeros(60)), ["bad.npy", "counter.npy"], "must hold a 2-D"),
    (("bad.npy", np.zeros((59, 5))), ["point.npy", "bad.npy"], "same shape"),
    (("bad.npy", np.array([["a"] * 5] * 60)), ["bad.npy", "counter.npy"], "real numbers"),
    (("bad.npy", np.array([[{}] * 5] * 60)), ["bad.npy", "counter.npy"], "not a .npy array"),
    (("bad.npy", b"not numpy"), ["bad.npy", "counter.npy"], "not a .npy array"),
    (("bad.npy", np.full((60, 5), np.nan)), ["bad.npy", "counter.npy"], "NaN"),
    (None, ["point.npy", "counter.npy", "--n-candidates", "1", "-n", "2"], "n_candidates"),
    (None, ["point.npy", "counter.npy", "-n", "119"], "n_negatives=119"),
    (None, ["point.npy", "counter.npy", "--search-param", "M"], "KEY=VALUE"),
    (None, ["point.npy", "counter.npy", "--triplets", "t.jsonl"], "--point-text"),
    (None, ["point.npy", "counter.npy", "--point-text", "p.txt"], "only used with"),
    (("p.txt", "a\nb\n"), ["point.npy", "counter.npy", "--point-text", "p.txt",
                           "--counter-text", "p.txt", "--triplets", "t.jsonl"], "2 texts"),
    (("p.jsonl", "[1]\n"), ["point.npy", "counter.npy", "--point-text", "p.jsonl",
                            "--counter-text", "p.jsonl", "--triplets", "t.jsonl"],
     "expected a JSON string"),
])
def test_mine_user_errors(npy_pairs, capsys, monkeypatch, setup, argv, match):
    tmp, *_ = npy_pairs
    monkeypatch.chdir(tmp)
    if setup is not None:
        name, content = setup
        if isinstance(content, np.ndarray):
            np.save(name, content, allow_pickle=True)
        elif isinstance(content, bytes):
            (tmp / name).write_bytes(content)
        else:
            (tmp / name).write_text(content)
    before = sorted(p.name for p in tmp.iterdir())
    status, _, err = run(capsys, "mine", *argv, "-o", "out.npy")
    assert_user_error(status, err, match)
    assert sorted(p.name for p in tmp.iterdir()) == before  # nothing written


@pytest.mark.parametrize("output, match", [("out.txt", "must end in .npy"),
                                           ("nodir/out.npy", "does not exist")])
def test_mine_output_errors(npy_pairs, capsys, output, match):
    tmp, *_ = npy_pairs
    status, _, err = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy", "-o",
                         tmp / output)
    assert_user_error(status, err, match)


def test_mine_failed_write_leaves_old_output(npy_pairs, capsys, monkeypatch):
    tmp, *_ = npy_pairs
    out = tmp / "neg.npy"
    out.write_bytes(b"old")

    def broken_save(fh, array):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", broken_save)
    status, _, err = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy", "-o", out)
    assert_user_error(status, err, f"cannot write {str(out)!r}: No space left on device")
    assert out.read_bytes() == b"old"
    assert sorted(p.name for p in tmp.iterdir()) == ["counter.npy", "neg.npy", "point.npy"]


@pytest.mark.parametrize("error", [
    TypeError("unsupported operand type(s)"), KeyError("column"), AttributeError("attr"),
    IndexError("index 3 is out of bounds"), RuntimeError("torch"), AssertionError(),
])
def test_a_bug_inside_the_library_keeps_its_traceback(npy_pairs, monkeypatch, error):
    """A TypeError (or any non-user error) raised inside our code is a bug."""
    from sknegsample.mining import _sampler

    tmp, *_ = npy_pairs

    def bug(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(_sampler.HybridNegativeSampler, "transform", bug)
    with pytest.raises(type(error)):
        main(["mine", str(tmp / "point.npy"), str(tmp / "counter.npy"), "-o",
              str(tmp / "o.npy"), "-q"])
    assert not (tmp / "o.npy").exists()


def test_a_bug_prints_a_traceback_and_exits_1(npy_pairs):
    """The same through the installed entry point: a traceback on stderr, exit 1."""
    tmp, *_ = npy_pairs
    code = ("import sys\n"
            "from sknegsample.mining import _sampler\n"
            "def bug(self, *a, **k):\n"
            "    raise TypeError('a bug inside the library')\n"
            "_sampler.HybridNegativeSampler.transform = bug\n"
            "from sknegsample.cli import main\n"
            f"sys.exit(main(['mine', {str(tmp / 'point.npy')!r}, {str(tmp / 'counter.npy')!r},"
            f" '-o', {str(tmp / 'o.npy')!r}, '-q']))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=300, cwd=ROOT)
    assert result.returncode == 1, result.stderr
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.strip().endswith("TypeError: a bug inside the library")
    assert "sknegsample: error" not in result.stderr


@pytest.mark.parametrize("content, match", [
    (b"", "is empty or truncated"),
    (b"\x93NUMPY", "is not a .npy array of numbers (EOF: reading magic string"),
    ("truncated", "is not a .npy array of numbers"),
])
def test_empty_and_truncated_npy_are_user_errors(npy_pairs, capsys, content, match):
    tmp, *_ = npy_pairs
    bad = tmp / "bad.npy"
    if content == "truncated":
        content = (tmp / "point.npy").read_bytes()[:200]
    bad.write_bytes(content)
    status, _, err = run(capsys, "mine", bad, tmp / "counter.npy", "-o", tmp / "o.npy")
    assert_user_error(status, err, f"point file {str(bad)!r} {match}")
    assert not (tmp / "o.npy").exists()


def test_unreadable_inputs_are_user_errors(npy_pairs, capsys, monkeypatch):
    tmp, *_ = npy_pairs
    status, _, err = run(capsys, "mine", tmp, tmp / "counter.npy", "-o", tmp / "o.npy")
    assert_user_error(status, err, "is a directory")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # Root reads any file, so the refusal is simulated where np.load opens it.
    monkeypatch.setattr(np, "load", denied)
    status, _, err = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy", "-o",
                         tmp / "o.npy")
    assert_user_error(status, err, "cannot read point file")
    assert "Permission denied" in err


def test_text_that_is_not_utf8_is_a_user_error(npy_pairs, capsys):
    tmp, *_ = npy_pairs
    (tmp / "p.txt").write_bytes(b"\xff\xfe not utf-8\n" * 60)
    status, _, err = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy", "-o",
                         tmp / "o.npy", "--point-text", tmp / "p.txt", "--counter-text",
                         tmp / "p.txt", "--triplets", tmp / "t.jsonl")
    assert_user_error(status, err, "is not UTF-8 text")


def _link(kind, target, name):
    link = target.parent / name
    if kind == "hard link":
        os.link(target, link)
    elif kind == "symlink":
        link.symlink_to(target)
    else:
        link = target.parent / "sub" / ".." / target.name
        (target.parent / "sub").mkdir()
    return link


@pytest.mark.parametrize("kind", ["same path", "hard link", "symlink", "dot-dot path"])
@pytest.mark.parametrize("flag, victim", [
    ("-o", "point.npy"), ("-o", "counter.npy"), ("--triplets", "p.jsonl"),
    ("--triplets", "c.jsonl"),
])
def test_outputs_never_overwrite_inputs(npy_pairs, capsys, kind, flag, victim):
    tmp, *_ = npy_pairs
    for name, word in (("p.jsonl", "point"), ("c.jsonl", "counter")):
        (tmp / name).write_text("".join(f'"{word} {i}"\n' for i in range(60)))
    before = {p.name: p.read_bytes() for p in tmp.iterdir()}
    target = tmp / victim if kind == "same path" else _link(kind, tmp / victim, "alias"
                                                             + Path(victim).suffix)
    outputs = {"-o": tmp / "o.npy", "--triplets": tmp / "t.jsonl", flag: target}
    status, _, err = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy",
                         "--point-text", tmp / "p.jsonl", "--counter-text", tmp / "c.jsonl",
                         *[a for f, path in outputs.items() for a in (f, path)])
    assert_user_error(status, err, "writing it would destroy that file")
    assert {name: (tmp / name).read_bytes() for name in before} == before
    assert not (tmp / "o.npy").exists() and not (tmp / "t.jsonl").exists()


def test_output_into_a_read_only_directory_is_refused_before_mining(npy_pairs, capsys,
                                                                     monkeypatch):
    tmp, *_ = npy_pairs
    # Root writes anywhere; os.access is what the check asks.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    status, _, err = run(capsys, "mine", tmp / "point.npy", tmp / "counter.npy", "-o",
                         tmp / "o.npy")
    assert_user_error(status, err, "cannot write to directory")


def test_demo_save_path_is_checked_before_training(capsys):
    status, _, err = run(capsys, "demo", "--save", "/nonexistent-dir/scorer.skops")
    assert_user_error(status, err, "--save: output directory '/nonexistent-dir' does not exist")


@pytest.fixture(scope="module")
def saved_scorer(tmp_path_factory):
    pytest.importorskip("skops")
    from sknegsample.rerank import BallTreePairScorer
    from sknegsample.utils import save

    point, counter = make_pairs(80, 6, random_state=1)
    scorer = BallTreePairScorer(max_epochs=2, topk=5, random_state=0).fit(point[:60],
                                                                          counter[:60])
    tmp = tmp_path_factory.mktemp("scorer")
    np.save(tmp / "point.npy", point[60:])
    np.save(tmp / "counter.npy", counter[60:])
    save(scorer, tmp / "scorer.skops")
    save(scorer, tmp / "scorer.joblib", format="joblib")
    return tmp, scorer, point[60:], counter[60:]


def test_evaluate_json_equals_library(saved_scorer, capsys):
    tmp, scorer, point, counter = saved_scorer
    status, out, _ = run(capsys, "evaluate", tmp / "scorer.skops", tmp / "point.npy",
                         tmp / "counter.npy", "--json", "--topk", 3)
    assert status == 0
    metrics = json.loads(out)
    seconds = metrics.pop("seconds")
    assert seconds >= 0
    expected = scorer.set_params(topk=3).evaluate(point, counter)
    scorer.set_params(topk=5)
    # The (low, high) intervals are JSON lists.
    for key in ("gain@1_ci", "gain_mrr@k_ci"):
        assert metrics.pop(key) == pytest.approx(list(expected.pop(key)))
    assert metrics == pytest.approx(expected)


def test_evaluate_table(saved_scorer, capsys):
    tmp, *_ = saved_scorer
    status, out, _ = run(capsys, "evaluate", tmp / "scorer.skops", tmp / "point.npy",
                         tmp / "counter.npy")
    assert status == 0
    assert out.splitlines()[0].split() == ["accuracy@1", "recall@5", "MRR@5", "nDCG@5"]
    assert out.splitlines()[1].startswith("retrieval alone")


@pytest.mark.parametrize("topk, ndcg_k", [(3, 3), (10, 10), (12, 10)])
def test_evaluate_table_names_the_ndcg_it_shows(saved_scorer, capsys, topk, ndcg_k):
    from sknegsample.metrics import ndcg_at_k

    tmp, scorer, point, counter = saved_scorer
    status, out, _ = run(capsys, "evaluate", tmp / "scorer.skops", tmp / "point.npy",
                         tmp / "counter.npy", "--topk", topk)
    assert status == 0
    header, retrieval = out.splitlines()[0].split(), out.splitlines()[1].split()
    assert header[-1] == f"nDCG@{ndcg_k}"
    ranking = scorer.set_params(topk=topk)._rank(point, counter)
    scorer.set_params(topk=5)
    # The column is the metric its label names, computed at that cutoff.
    assert float(retrieval[-1]) == pytest.approx(ndcg_at_k(ranking.ids, ranking.true_ids,
                                                           ndcg_k), abs=5e-4)


def test_warnings_are_one_line(saved_scorer):
    """A version-mismatch warning prints as one 'sknegsample: warning:' line, not
    Python's "path:line: Category: message" and source line."""
    tmp, *_ = saved_scorer
    code = ("import sys\n"
            "import sknegsample._version as version\n"
            "version.__version__ = '0.0.1'\n"
            "from sknegsample.cli import main\n"
            f"sys.exit(main(['evaluate', {str(tmp / 'scorer.skops')!r}, "
            f"{str(tmp / 'point.npy')!r}, {str(tmp / 'counter.npy')!r}, '-q']))\n")
    result = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True,
                            text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    # One line per warning: the scorer's and its fitted sampler's.
    lines = result.stderr.strip().splitlines()
    assert [line.split(" saved with")[0] for line in lines] == [
        f"sknegsample: warning: Trying to load {name}"
        for name in ("HybridNegativeSampler", "BallTreePairScorer")], result.stderr
    assert all("under sknegsample 0.0.1" in line for line in lines)


def test_evaluate_user_errors(saved_scorer, capsys):
    tmp, *_ = saved_scorer
    data = [tmp / "point.npy", tmp / "counter.npy"]
    status, _, err = run(capsys, "evaluate", tmp / "scorer.joblib", *data)
    assert_user_error(status, err, "allow_pickle")
    status, out, _ = run(capsys, "evaluate", tmp / "scorer.joblib", *data, "--allow-pickle",
                         "--json")
    assert status == 0 and "accuracy@1" in json.loads(out)
    status, _, err = run(capsys, "evaluate", tmp / "nope.skops", *data)
    assert_user_error(status, err, "does not exist")
    (tmp / "junk.skops").write_bytes(b"junk")
    status, _, err = run(capsys, "evaluate", tmp / "junk.skops", *data)
    assert_user_error(status, err, "junk.skops")
    np.save(tmp / "wide.npy", np.zeros((20, 7)))
    status, _, err = run(capsys, "evaluate", tmp / "scorer.skops", tmp / "wide.npy",
                         tmp / "wide.npy")
    assert_user_error(status, err, "features")


def test_evaluate_writes_run_files_as_export_run_does(saved_scorer, capsys, tmp_path):
    from sknegsample.evaluation import export_run

    tmp, scorer, point, counter = saved_scorer
    out = tmp_path / "cli"
    out.mkdir()
    status, stdout, _ = run(capsys, "evaluate", tmp / "scorer.skops", tmp / "point.npy",
                            tmp / "counter.npy", "--run", out / "run.trec", "--retrieval-run",
                            out / "ret.trec", "--qrels", out / "qrels.trec", "--n-bootstrap", 50)
    assert status == 0
    assert "head's gain in accuracy@1" in stdout and f"wrote run file {out / 'run.trec'}" \
        in stdout
    metrics = export_run(scorer, point, counter, run_path=tmp_path / "run.trec",
                         retrieval_run_path=tmp_path / "ret.trec",
                         qrels_path=tmp_path / "qrels.trec", n_bootstrap=50)
    for name in ("run.trec", "ret.trec", "qrels.trec"):
        assert (out / name).read_text() == (tmp_path / name).read_text(), name
    status, stdout, _ = run(capsys, "evaluate", tmp / "scorer.skops", tmp / "point.npy",
                            tmp / "counter.npy", "--qrels", out / "qrels.trec", "--json",
                            "--n-bootstrap", 50)
    assert json.loads(stdout)["gain@1_ci"] == list(metrics["gain@1_ci"])


@pytest.mark.parametrize("flags, match", [
    (["--run", "{tmp}/point.npy"], "--run '{tmp}/point.npy' is the same file as POINT"),
    (["--qrels", "{tmp}/scorer.skops"], "is the same file as MODEL"),
    (["--run", "{tmp}/r", "--qrels", "{tmp}/r"], "--qrels '{tmp}/r' is the same file as --run"),
    (["--run", "{tmp}/missing/r"], "--run: output directory '{tmp}/missing' does not exist"),
    (["--confidence", "1"], "confidence must be a float in (0, 1)"),
])
def test_evaluate_refuses_bad_outputs(saved_scorer, capsys, flags, match):
    tmp, *_ = saved_scorer
    before = (tmp / "point.npy").read_bytes()
    flags = [f.format(tmp=tmp) for f in flags]
    status, _, err = run(capsys, "evaluate", tmp / "scorer.skops", tmp / "point.npy",
                         tmp / "counter.npy", *flags)
    assert_user_error(status, err, match.format(tmp=tmp))
    assert (tmp / "point.npy").read_bytes() == before
    assert not (tmp / "r").exists()


def test_audit_summary_json_and_plot(npy_pairs, capsys):
    pytest.importorskip("matplotlib")
    from sknegsample import audit

    tmp, point, counter = npy_pairs
    sampler = HybridNegativeSampler(n_negatives=3, random_rate=0.5, random_state=0)
    negatives = sampler.fit_transform(point, counter)
    np.save(tmp / "neg.npy", negatives)
    np.save(tmp / "random.npy", sampler.negative_is_random_)
    status, out, _ = run(capsys, "audit", tmp / "point.npy", tmp / "counter.npy",
                         tmp / "neg.npy", "--is-random", tmp / "random.npy", "--plot",
                         tmp / "audit.png", "--worst", 2)
    assert status == 0
    assert out.startswith("audit of 60 anchors x 3 negatives (euclidean distance)")
    assert "gap to the positive, hard" in out and f"wrote {tmp / 'audit.png'}" in out
    assert (tmp / "audit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    status, out, _ = run(capsys, "audit", tmp / "point.npy", tmp / "counter.npy",
                         tmp / "neg.npy", "--is-random", tmp / "random.npy", "--json")
    assert status == 0
    expected = audit(sampler, point, counter).to_dict()
    assert json.loads(out) == json.loads(json.dumps(expected))


@pytest.mark.parametrize("argv, match", [
    (["neg.npy", "--plot", "neg.npy"], "--plot 'neg.npy' is the same file as NEGATIVES"),
    (["neg.npy", "--plot", "audit.svg"], "must end in .png"),
    (["missing.npy"], "negatives file 'missing.npy' does not exist"),
    (["bad.npy"], "negatives must have shape (n_pairs, n_negatives) = (60, ...)"),
    (["neg.npy", "--is-random", "bad.npy"],
     "--is-random file 'bad.npy' must hold booleans; got dtype int64"),
])
def test_audit_user_errors(npy_pairs, capsys, monkeypatch, argv, match):
    tmp, *_ = npy_pairs
    monkeypatch.chdir(tmp)
    np.save("neg.npy", np.zeros((60, 2), dtype=np.int64))
    np.save("bad.npy", np.zeros((5, 2), dtype=np.int64))
    status, _, err = run(capsys, "audit", "point.npy", "counter.npy", *argv)
    assert_user_error(status, err, match)
    assert np.load("neg.npy").shape == (60, 2)


def check_demo_table(out, epochs):
    lines = out.splitlines()
    assert "1823 man-page" in lines[0]
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["accuracy@1"])
    assert lines[header].split() == ["accuracy@1", "recall@10", "MRR@10", "nDCG@10"]
    assert lines[header + 1].startswith("retrieval alone")
    assert lines[header + 2].startswith("re-ranked by head")
    assert lines[header + 3].startswith("head's gain")
    assert any(line.startswith(f"train head ({epochs} epochs)") for line in lines)
    assert lines[-1].startswith("total")


def test_demo_json(capsys):
    import torch

    threads = torch.get_num_threads()
    status, out, _ = run(capsys, "demo", "--epochs", 1, "--test-size", 0.5, "--topk", 5,
                         "--threads", 2, "--json", "--quiet")
    assert status == 0
    assert torch.get_num_threads() == threads  # restored
    result = json.loads(out)
    assert result["n_test"] == 912 and result["metrics"]["topk"] == 5
    metrics = result["metrics"]
    assert 0 < metrics["retrieval_accuracy@1"] <= metrics["recall@k"] <= 1
    assert result["mining"]["n_hard"] + result["mining"]["n_random"] == 911 * 4


def test_demo_user_error(capsys):
    status, _, err = run(capsys, "demo", "--test-size", 1.5)
    assert_user_error(status, err, "--test-size")


def test_docs_console_examples_run(tmp_path, monkeypatch, capsys):
    """Every ``$ sknegsample ...`` line of docs/cli.rst runs, in order."""
    import shlex
    from pathlib import Path

    from sknegsample.datasets import load_manpage_pairs

    page = Path(__file__).resolve().parents[2] / "docs" / "cli.rst"
    if not page.is_file():
        pytest.skip("docs/cli.rst is not in this tree")
    commands = [line.strip()[2:] for line in page.read_text().splitlines()
                if line.strip().startswith("$ sknegsample ")]
    assert len(commands) >= 5
    monkeypatch.chdir(tmp_path)
    # The files the page's Python block writes.
    data = load_manpage_pairs()
    np.save("point.npy", data.point[:300])
    np.save("counter.npy", data.counter[:300])
    Path("point.txt").write_text("\n".join(data.point_text[:300]) + "\n", encoding="utf-8")
    Path("counter.jsonl").write_text(
        "".join(json.dumps(t) + "\n" for t in data.counter_text[:300]), encoding="utf-8")
    outputs = []
    for command in commands:
        argv = shlex.split(command)[1:]
        if argv[0] == "demo":
            argv += ["--epochs", "1"]  # the last value wins: keep the test short
        assert main(argv + ["--quiet"]) == 0, command
        out, err = capsys.readouterr()
        assert err == "", command
        outputs.append(out)
    check_demo_table(outputs[commands.index("sknegsample demo")], epochs=1)
    for written in ("scorer.skops", "negatives.npy", "triplets.jsonl", "run.trec",
                    "qrels.trec", "audit.png"):
        assert Path(written).is_file(), written


@pytest.mark.parametrize("command", ["mine", "demo"])
@pytest.mark.parametrize("device, match", [
    ("nonsense", "--device must be a torch device such as 'cpu', 'cuda' or 'cuda:1'; got "
                 "'nonsense'"),
    ("cuda", "--device='cuda' needs CUDA, but this torch build"),
])
def test_bad_device_is_one_line(npy_pairs, capsys, monkeypatch, command, device, match):
    import torch

    # As on a CPU-only build, also where the suite runs on a GPU machine.
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: False)
    tmp, *_ = npy_pairs
    argv = (["mine", tmp / "point.npy", tmp / "counter.npy", "-o", tmp / "o.npy"]
            if command == "mine" else ["demo"])
    status, _, err = run(capsys, *argv, "--device", device)
    assert_user_error(status, err, match)
    assert not (tmp / "o.npy").exists()
