"""Rebuild datasets/python_tutorial/tutorial.json from the Python tutorial in Debian's python3.11-doc (offline).

    cd /tmp && apt-get download python3.11-doc        # python3.11-doc_3.11.2-6+deb12u8_all.deb (Debian bookworm)
    python datasets/python_tutorial/make.py /tmp/python3.11-doc_3.11.2-6+deb12u8_all.deb

The argument may also be a folder the package was extracted into (``dpkg-deb -x FILE.deb FOLDER``). The reST
sources of the tutorial (``usr/share/doc/python3.11/html/_sources/tutorial/*.rst.txt``) become plain English
paragraphs, one per line: code (``::`` literal blocks, ``code-block``, ``>>>`` doctests), directives, index
entries, labels, tables and headings are dropped and inline markup is reduced to its text. Whole chapters go to
train, val and test (``SPLITS``). The result is byte-for-byte reproducible: same paragraphs, same order, sorted keys.
"""

import gzip
import hashlib
import io
import json
import re
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC = "usr/share/doc/python3.11/html/_sources/"
CHANGELOG = "usr/share/doc/python3.11-doc/changelog.Debian.gz"
# Whole chapters per split, in the tutorial's own order (index.rst's toctree); every chapter is used once.
SPLITS = {
    "train": [
        "index", "appetite", "interpreter", "introduction", "inputoutput", "errors",
        "stdlib", "stdlib2", "venv", "whatnow", "interactive", "floatingpoint", "appendix",
    ],
    "val": ["datastructures", "modules"],
    "test": ["controlflow", "classes"],
}  # fmt: skip
KEEP = {"note", "warning", "seealso", "method", "[#]"}  # directives whose body is prose; all others are dropped
DIRECTIVE = re.compile(r"^(\s*)\.\.(?:\s+(\[#\]|[\w-]+::|_)?(.*))?$")
ITEM = re.compile(r"^(\s*)(?:[*+-]|#\.|\d+\.)\s+(?=\S)")
UNDERLINE = re.compile(r"^([=\-*~^\"'`#+])\1+\s*$")
INLINE = re.compile(
    r"(?P<role>:(?P<name>[\w:-]+):`(?P<body>[^`]+)`)"  # :func:`print`, :ref:`text <label>`
    r"|``(?P<code>.+?)``(?!`)"  # ``literal``
    r"|`(?P<link>[^`<]+?)\s*(?:<[^>]*>)?`__?"  # `text <url>`_
    r"|(?<![\w*])\*\*(?P<strong>\S(?:.*?\S)?)\*\*(?![\w*])"  # **strong**
    r"|(?<![\w*\\])\*(?P<emph>[^\s*](?:[^*]*?[^\s*\\])?)\*(?![\w*])"  # *emphasis*
    r"|\s*\[#\]_"  # footnote reference
    r"|\\(?P<escaped>.)|(?P<dash>---)"  # backslash escape, em dash
)


def read_package(source: Path) -> dict[str, bytes]:
    """Return {path inside the package: bytes} for the doc sources and changelog, from a .deb or a folder."""
    wanted = (DOC, CHANGELOG)
    if source.is_dir():
        return {
            str(p.relative_to(source)): p.read_bytes()
            for p in sorted(source.rglob("*"))
            if p.is_file() and str(p.relative_to(source)).startswith(wanted)
        }
    blob = source.read_bytes()
    if not blob.startswith(b"!<arch>\n"):
        raise SystemExit(f"{source} is neither a folder nor a .deb (ar archive)")
    offset = 8
    while offset < len(blob):  # an ar archive: 60-byte headers, members padded to even sizes
        name, size = blob[offset : offset + 16].decode().strip(), int(blob[offset + 48 : offset + 58])
        if name.startswith("data.tar"):
            data = io.BytesIO(blob[offset + 60 : offset + 60 + size])
            with tarfile.open(fileobj=data, mode="r:*") as tar:
                return {
                    m.name.removeprefix("./"): tar.extractfile(m).read()
                    for m in tar.getmembers()
                    if m.isfile() and m.name.removeprefix("./").startswith(wanted)
                }
        offset += 60 + size + size % 2
    raise SystemExit(f"{source} holds no data.tar member")


def heading_titles(files: dict[str, bytes]) -> dict[str, str]:
    """Return {label: section title} for every ``.. _label:`` right above a heading, in all the doc sources."""
    titles = {}
    for path in sorted(files):
        if not path.startswith(DOC):
            continue
        lines = files[path].decode("utf-8").splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^\.\. _([^:]+):\s*$", line)
            if not m:
                continue
            rest = [x for x in lines[i + 1 : i + 12] if x.strip() and not x.startswith(".. _")]
            if len(rest) >= 3 and UNDERLINE.match(rest[0]) and UNDERLINE.match(rest[2]):
                titles[m.group(1).lower()] = rest[1].strip()
            elif len(rest) >= 2 and UNDERLINE.match(rest[1]) and not UNDERLINE.match(rest[0]):
                titles[m.group(1).lower()] = rest[0].strip()
    return titles


def inline(text: str, titles: dict[str, str]) -> str:
    """Return ``text`` with reST inline markup reduced to the words a reader sees."""

    def plain(m: re.Match) -> str:
        if m.group("role"):
            name, body = m.group("name"), m.group("body").strip()
            explicit = re.match(r"^(.*?)\s*<([^>]*)>$", body, re.S)
            if explicit:
                return explicit.group(1)
            if name == "ref":
                return inline(titles[body.lower()], titles)
            if name in ("pep", "rfc"):
                return f"{name.upper()} {body}"
            body = body.lstrip("!")
            return body.rsplit(".", 1)[-1] if body.startswith("~") else body
        if m.group("escaped") == " ":  # an escaped space separates markup from text and vanishes
            return ""
        for group in ("code", "link", "strong", "emph", "escaped"):
            if m.group(group) is not None:
                return m.group(group)
        return "\u2014" if m.group("dash") else ""

    return INLINE.sub(plain, text)


def block_end(lines: list[str], start: int, indent: int) -> int:
    """Return the index of the first line from ``start`` on that is not blank and not indented past ``indent``."""
    end = start
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    return end


def prose(lines: list[str], titles: dict[str, str]) -> list[str]:
    """Return the prose paragraphs of reST ``lines``, each as one line of normalised text."""
    out: list[str] = []
    para: list[str] = []
    para_indent = 0

    def flush() -> None:
        text = " ".join(para)
        text = re.sub(r"\s+::$", "", text)
        text = re.sub(r"::$", ":", text)
        text = " ".join(inline(text, titles).split())
        if text and re.search(r"[A-Za-z]{2}", text):
            out.append(text)
        para.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if not stripped:
            flush()
            i += 1
            continue
        directive = DIRECTIVE.match(line) if stripped.startswith("..") else None
        if directive:
            flush()
            end = block_end(lines, i + 1, indent)
            kind = (directive.group(2) or "").removesuffix("::")
            if kind in KEEP:
                body = [] if kind == "method" else [" " * (indent + 3) + directive.group(3)]
                start = i + 1
                while start < end and re.match(r"^\s*:[\w-]+:", lines[start]):  # the directive's options
                    start += 1
                body += lines[start:end]
                out += prose(body, titles)
            i = end
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if UNDERLINE.match(stripped) or (UNDERLINE.match(nxt.strip()) and not para):  # a heading
            flush()
            i += 3 if UNDERLINE.match(stripped) else 2
            continue
        if stripped.startswith((">>>", "+-", "|")) or re.fullmatch(r"=+(\s+=+)+", stripped):  # doctest, table
            flush()
            while i < len(lines) and lines[i].strip():
                i += 1
            continue
        item = ITEM.match(line)
        if item:
            flush()
            para_indent = item.end()
            stripped = line[item.end() :].strip()
        elif not para:
            para_indent = indent
        para.append(stripped)
        i += 1
        if stripped.endswith("::"):  # the indented block that follows is code
            flush()
            i = block_end(lines, i, para_indent)
    flush()
    return out


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    files = read_package(Path(sys.argv[1]))
    head = gzip.decompress(files[CHANGELOG]).decode().splitlines()[0]  # "python3.11 (3.11.2-6+deb12u8) ..."
    version = re.search(r"\(([^)]+)\)", head).group(1)
    titles = heading_titles(files)
    shipped = sorted(p.rsplit("/", 1)[-1].removesuffix(".rst.txt") for p in files if p.startswith(DOC + "tutorial/"))
    planned = sorted(c for chapters in SPLITS.values() for c in chapters)
    if shipped != planned:
        raise SystemExit(f"the package's tutorial chapters {shipped} differ from SPLITS {planned}")
    result: dict = {"source": f"python3.11-doc {version}", "chapters": {}}
    for split, chapters in SPLITS.items():
        result["chapters"][split] = [f"{c}.rst" for c in chapters]
        result[split] = []
        for chapter in chapters:
            lines = files[f"{DOC}tutorial/{chapter}.rst.txt"].decode("utf-8").splitlines()
            result[split] += prose(lines, titles)
        print(split, len(result[split]), "paragraphs,", sum(len(p.split()) for p in result[split]), "words")
    out = HERE / "tutorial.json"
    out.write_text(json.dumps(result, sort_keys=True, ensure_ascii=False, indent=None) + "\n", encoding="utf-8")
    print(out, out.stat().st_size, "bytes, sha256", hashlib.sha256(out.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
