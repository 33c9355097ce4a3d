"""TREC run files and qrels: the format, ties, and ranx reading back evaluate()'s numbers."""

import warnings

import numpy as np
import pytest
import torch

from sknegsample import BallTreePairScorer, compare_scorers
from sknegsample.evaluation import export_run, write_trec_qrels, write_trec_run
from sknegsample.evaluation._runfiles import strictly_decreasing

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _read(path):
    return [line.split() for line in path.read_text().splitlines()]


def test_run_file_lines_and_ties(tmp_path):
    path = tmp_path / "run.txt"
    write_trec_run(path, [[7, 3, 5, -1], [2, -1, -1, -1]],
                   [[1.0, 1.0, 1.0, -np.inf], [0.5, -np.inf, -np.inf, -np.inf]], tag="t")
    lines = _read(path)
    assert [line[:4] for line in lines] == [["0", "Q0", "7", "1"], ["0", "Q0", "3", "2"],
                                            ["0", "Q0", "5", "3"], ["1", "Q0", "2", "1"]]
    assert {line[5] for line in lines} == {"t"}
    scores = [float(line[4]) for line in lines[:3]]
    # Ties are written one ulp apart: strictly decreasing, and read back exactly.
    assert scores[0] == 1.0 and scores[0] > scores[1] > scores[2]
    assert scores[1] == np.nextafter(1.0, 0) and scores[2] == np.nextafter(scores[1], 0)


def test_default_scores_follow_the_rank(tmp_path):
    path = tmp_path / "run.txt"
    write_trec_run(path, [[4, 1, 0]], query_ids=["q"], doc_ids=list("abcde"))
    assert _read(path) == [["q", "Q0", "e", "1", "3.0", "sknegsample"],
                           ["q", "Q0", "b", "2", "2.0", "sknegsample"],
                           ["q", "Q0", "a", "3", "1.0", "sknegsample"]]


def test_strictly_decreasing_keeps_what_already_is():
    rng = np.random.RandomState(0)
    scores = -np.sort(rng.normal(size=(50, 8)), axis=1)
    np.testing.assert_array_equal(strictly_decreasing(scores), scores)
    ties = np.round(scores, 0)
    out = strictly_decreasing(ties)
    assert np.all(np.diff(out, axis=1) < 0)
    np.testing.assert_allclose(out, ties, atol=1e-12)


def test_qrels_lines(tmp_path):
    path = tmp_path / "qrels.txt"
    write_trec_qrels(path, [[3, 1, 3], [0, -1, -1]], doc_ids=["d0", "d1", "d2", "d3"])
    assert _read(path) == [["0", "0", "d1", "1"], ["0", "0", "d3", "1"],
                           ["1", "0", "d0", "1"]]
    write_trec_qrels(path, [2, 0])  # the one-relevant-id form
    assert _read(path) == [["0", "0", "2", "1"], ["1", "0", "0", "1"]]


@pytest.mark.parametrize("call, error, match", [
    (lambda p: write_trec_run(p, [[1, 2]], [[0.1, 0.5]]), ValueError,
     r"scores must be non-increasing along each row \(best first\); got 0.5 after 0.1"),
    (lambda p: write_trec_run(p, [[1, 2]], [[0.5, np.nan]]), ValueError, "scores must be finite"),
    (lambda p: write_trec_run(p, [[1, 2]], [[0.5]]), ValueError, "shape of ranked_ids"),
    (lambda p: write_trec_run(p, [1, 2]), ValueError, "ranked_ids must be 2-D"),
    (lambda p: write_trec_run(p, [[1.5]]), TypeError, "ranked_ids must hold integer"),
    (lambda p: write_trec_run(p, [[1]], query_ids=["a b"]), ValueError,
     "query_ids must be non-empty names without whitespace; got 'a b'"),
    (lambda p: write_trec_run(p, [[1]], query_ids=["a", "b"]), ValueError,
     "query_ids must name each of the 1 queries; got 2"),
    (lambda p: write_trec_run(p, [[3]], doc_ids=["a"]), ValueError,
     "doc_ids must name every id up to 3"),
    (lambda p: write_trec_run(p, [[3]], tag=1), TypeError, "tag must be a str"),
    (lambda p: write_trec_qrels(p, [[[1]]]), ValueError, "true_ids must be 2-D"),
])
def test_bad_arguments_leave_no_file(tmp_path, call, error, match):
    path = tmp_path / "out.txt"
    with pytest.raises(error, match=match):
        call(path)
    assert not path.exists()


# export_run and ranx.

@pytest.fixture(scope="module")
def scorer_and_pairs():
    rng = np.random.RandomState(3)
    centers = rng.normal(scale=3.0, size=(4, 6))
    point = (centers[np.arange(90) % 4] + rng.normal(size=(90, 6))).astype(np.float32)
    counter = (point + 0.4 * rng.normal(size=(90, 6))).astype(np.float32)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    scorer = BallTreePairScorer(topk=8, hidden_units=8, max_epochs=3, random_state=0)
    scorer.fit(point[:60], counter[:60])
    torch.set_num_threads(previous)
    point, counter = point[60:].copy(), counter[60:]
    point[[4, 9]] = point[2]  # one query with three relevant counters
    return scorer, point, counter


def test_export_names_queries_and_documents(scorer_and_pairs, tmp_path):
    scorer, point, counter = scorer_and_pairs
    metrics = export_run(scorer, point, counter, run_path=tmp_path / "run",
                         retrieval_run_path=tmp_path / "ret", qrels_path=tmp_path / "qrels")
    assert metrics == scorer.evaluate(point, counter)
    qrels = _read(tmp_path / "qrels")
    assert [line for line in qrels if line[0] == "2"] == [
        ["2", "0", "c2", "1"], ["2", "0", "c4", "1"], ["2", "0", "c9", "1"]]
    assert {line[0] for line in qrels} == {str(q) for q in range(30) if q not in (4, 9)}
    run, ret = _read(tmp_path / "run"), _read(tmp_path / "ret")
    assert {line[5] for line in run} == {"sknegsample-reranked"}
    assert {line[5] for line in ret} == {"sknegsample-retrieval"}
    assert all(line[2][0] in "cp" for line in run + ret)
    # The query's own point and its copies are never candidates.
    assert not any(line[2] in ("p2", "p4", "p9") for line in run if line[0] == "2")
    ranking = scorer._rank(point, counter)
    first = [line[2] for line in ret if line[0] == "0"]
    assert first == [f"c{i}" if i < 30 else f"p{i - 30}" for i in ranking.ids[0]]


def _ranx_metrics(tmp_path, run_name, k):
    ranx = pytest.importorskip("ranx")
    qrels = ranx.Qrels.from_file(str(tmp_path / "qrels"), kind="trec")
    run = ranx.Run.from_file(str(tmp_path / run_name), kind="trec")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="unsafe cast")  # numba compiling ranx
        return ranx.evaluate(qrels, run, ["hit_rate@1", f"hit_rate@{k}", "mrr", "ndcg@10",
                                          "map"])


@pytest.mark.slow
@pytest.mark.parametrize("tied", [False, True], ids=["head scores", "all scores tied"])
def test_ranx_reads_back_evaluates_metrics(scorer_and_pairs, tmp_path, monkeypatch, tied):
    scorer, point, counter = scorer_and_pairs
    if tied:
        # A head that scores every candidate alike keeps the retrieval order;
        # only the written tie-break keeps ranx from reordering the run.
        monkeypatch.setattr(scorer, "_head_scores", lambda q, b, ids, d: np.zeros(ids.shape))
    metrics = export_run(scorer, point, counter, run_path=tmp_path / "run",
                         retrieval_run_path=tmp_path / "ret", qrels_path=tmp_path / "qrels")
    k = scorer.topk
    reranked = _ranx_metrics(tmp_path, "run", k)
    retrieval = _ranx_metrics(tmp_path, "ret", k)
    assert reranked["hit_rate@1"] == pytest.approx(metrics["accuracy@1"])
    assert reranked["mrr"] == pytest.approx(metrics["mrr@k"])
    assert reranked["ndcg@10"] == pytest.approx(metrics["ndcg@10"])
    assert reranked["map"] == pytest.approx(metrics["map@k"])
    assert retrieval["hit_rate@1"] == pytest.approx(metrics["retrieval_accuracy@1"])
    assert retrieval[f"hit_rate@{k}"] == pytest.approx(metrics["recall@k"])
    assert retrieval["mrr"] == pytest.approx(metrics["retrieval_mrr@k"])
    assert retrieval["ndcg@10"] == pytest.approx(metrics["retrieval_ndcg@10"])
    if tied:
        assert metrics["gain@1"] == 0 and metrics["wins"] == metrics["losses"] == 0


def test_export_needs_a_path_and_distinct_paths(scorer_and_pairs, tmp_path):
    scorer, point, counter = scorer_and_pairs
    with pytest.raises(ValueError, match="needs at least one of run_path"):
        export_run(scorer, point, counter)
    with pytest.raises(ValueError, match="same path twice"):
        export_run(scorer, point, counter, run_path=tmp_path / "a", qrels_path=tmp_path / "a")
    with pytest.raises(TypeError, match="scorer must be a fitted BallTreePairScorer; got str"):
        export_run("model", point, counter, run_path=tmp_path / "a")
    assert list(tmp_path.iterdir()) == []


# compare_scorers.

def test_compare_with_retrieval_is_evaluates_gain(scorer_and_pairs):
    scorer, point, counter = scorer_and_pairs
    metrics = scorer.evaluate(point, counter)
    out = compare_scorers(scorer, "retrieval", point, counter, random_state=0)
    assert out["gain"] == pytest.approx(metrics["gain@1"])
    assert (out["wins"], out["losses"]) == (metrics["wins"], metrics["losses"])
    assert out["n_queries"] == metrics["n_queries"] == 28
    # Seeded as evaluate is (random_state=0): the same interval.
    assert out["ci"] == pytest.approx(metrics["gain@1_ci"])
    mrr = compare_scorers(scorer, "retrieval", point, counter, metric="mrr", random_state=0)
    assert mrr["gain"] == pytest.approx(metrics["gain_mrr@k"])
    assert 0 < out["p_value"] <= 1 and out["metric"] == "accuracy@1"


def test_compare_two_scorers_is_antisymmetric(scorer_and_pairs):
    scorer, point, counter = scorer_and_pairs
    other = BallTreePairScorer(topk=4, hidden_units=0, max_epochs=1, random_state=1)
    other.fit(point, counter)
    ab = compare_scorers(scorer, other, point, counter, metric="ndcg", k=4, random_state=0)
    ba = compare_scorers(other, scorer, point, counter, metric="ndcg", k=4, random_state=0)
    assert ab["gain"] == pytest.approx(-ba["gain"])
    assert (ab["wins"], ab["losses"]) == (ba["losses"], ba["wins"])
    assert ab["ci"] == pytest.approx((-ba["ci"][1], -ba["ci"][0]))
    assert ab["p_value"] == ba["p_value"]


@pytest.mark.parametrize("baseline, kwargs, error, match", [
    ("head", {}, ValueError, "baseline must be a fitted BallTreePairScorer or 'retrieval'"),
    (BallTreePairScorer(), {}, Exception, "not fitted"),
    ("retrieval", {"metric": "auc"}, ValueError, "metric must be one of"),
    ("retrieval", {"n_bootstrap": 0}, ValueError, "n_bootstrap must be an int >= 1"),
])
def test_compare_bad_arguments(scorer_and_pairs, baseline, kwargs, error, match):
    scorer, point, counter = scorer_and_pairs
    with pytest.raises(error, match=match):
        compare_scorers(scorer, baseline, point, counter, **kwargs)
