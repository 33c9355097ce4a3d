"""ST-layout records from bank ids, and the CLI's ``mine --format/--scores``."""

import json

import numpy as np
import pytest

from sknegsample.cli import main
from sknegsample.text._records import st_records

POINTS, COUNTERS = ["p0", "p1", "p2"], ["c0", "c1", "c2"]


def _emb():
    rng = np.random.RandomState(0)
    point = rng.normal(size=(3, 4))
    return point, point + 0.1 * rng.normal(size=(3, 4))


def _cos(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("output_format", ["triplet", "n-tuple", "labeled-pair", "labeled-list"])
def test_layouts_and_scores_follow_the_bank_ids(output_format):
    point, counter = _emb()
    negatives = np.array([[4, 2], [0, 5], [3, 1]])  # bank ids: 0-2 points, 3-5 counters
    bank = np.vstack([point, counter])
    texts = POINTS + COUNTERS
    records = st_records(negatives, POINTS, COUNTERS, output_format=output_format,
                         point=point, counter=counter)
    plain = st_records(negatives, POINTS, COUNTERS, output_format=output_format)
    pos = [_cos(point[i], counter[i]) for i in range(3)]
    neg = [[_cos(point[i], bank[j]) for j in negatives[i]] for i in range(3)]
    if output_format == "triplet":
        assert [r["negative"] for r in records] == [texts[j] for j in negatives.ravel()]
        np.testing.assert_allclose([r["scores"] for r in records],
                                   [[pos[i], neg[i][k]] for i in range(3) for k in range(2)])
        assert "scores" not in plain[0]
    elif output_format == "n-tuple":
        assert list(records[0]) == ["anchor", "positive", "negative_1", "negative_2", "scores"]
        np.testing.assert_allclose(records[1]["scores"], [pos[1], *neg[1]])
    elif output_format == "labeled-pair":
        assert [r["label"] for r in plain] == [1, 0, 0] * 3
        assert [r["positive"] for r in plain[:3]] == ["c0", "c1", "p2"]
        np.testing.assert_allclose([r["score"] for r in records[:3]], [pos[0], *neg[0]])
    else:
        assert plain[2] == {"anchor": "p2", "positive": ["c2", "c0", "p1"], "labels": [1, 0, 0]}
        np.testing.assert_allclose(records[2]["scores"], [pos[2], *neg[2]])


def test_cli_mine_format_and_scores(tmp_path, capsys):
    point, counter = _emb()
    point = np.vstack([point, -point])
    counter = np.vstack([counter, -counter])
    np.save(tmp_path / "p.npy", point)
    np.save(tmp_path / "c.npy", counter)
    (tmp_path / "p.txt").write_text("\n".join(f"p{i}" for i in range(6)) + "\n")
    (tmp_path / "c.txt").write_text("\n".join(f"c{i}" for i in range(6)) + "\n")
    args = [str(tmp_path / "p.npy"), str(tmp_path / "c.npy"), "-o", str(tmp_path / "n.npy"),
            "--point-text", str(tmp_path / "p.txt"), "--counter-text", str(tmp_path / "c.txt"),
            "--triplets", str(tmp_path / "t.jsonl"), "-n", "2", "--random-state", "0", "-q"]
    assert main(["mine", *args, "--format", "labeled-list", "--scores"]) == 0
    lines = [json.loads(x) for x in (tmp_path / "t.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and len(lines[0]["positive"]) == 3 and len(lines[0]["scores"]) == 3
    assert main(["mine", *args[:4], "--scores"]) != 0
    assert "--format and --scores" in capsys.readouterr().err
