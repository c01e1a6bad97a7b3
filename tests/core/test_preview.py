"""core.preview: the first rows of a stored file, as the hub and file pages show them."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from core.preview import PREVIEW_ROWS, TEXT_BYTES, preview


def show(name, data):
    return preview(name=name, size=len(data), open_file=lambda: io.BytesIO(data))


def test_csv_and_tsv_become_tables_of_their_first_rows():
    rows = "text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(200))
    table = show("train.csv", rows.encode())
    assert table["kind"] == "table" and table["columns"] == ["text", "label"]
    assert len(table["rows"]) == PREVIEW_ROWS and table["rows"][0] == ["row 0", "0"] and table["more"]
    assert show("x.tsv", b"a\tb\n1\t2\n") == {"kind": "table", "columns": ["a", "b"], "rows": [["1", "2"]],
                                                 "more": False}


def test_json_lines_and_json_arrays_become_tables_with_every_key_as_a_column():
    lines = b'{"text": "hi", "label": 1}\n{"text": "yo", "extra": {"a": [1]}}\n'
    table = show("data/train.jsonl", lines)
    assert table["columns"] == ["text", "label", "extra"]
    assert table["rows"] == [["hi", "1", ""], ["yo", "", '{"a": [1]}']]
    array = show("records.json", json.dumps([{"q": "a?"}, {"q": "b?"}]).encode())
    assert array["kind"] == "table" and array["rows"] == [["a?"], ["b?"]]
    config = show("config.json", b'{"n_layer":2,"n_embd":64}')
    assert config["kind"] == "text" and '"n_layer": 2' in config["text"]


def test_parquet_shows_its_first_rows_and_the_total():
    buffer = io.BytesIO()
    pq.write_table(pa.table({"text": [f"t{i}" for i in range(120)], "score": [i / 2 for i in range(120)]}), buffer)
    table = show("data/train-00000.parquet", buffer.getvalue())
    assert table["kind"] == "table" and table["columns"] == ["text", "score"]
    assert table["rows"][:2] == [["t0", "0.0"], ["t1", "0.5"]] and table["total"] == 120 and table["more"]
    assert show("broken.parquet", b"PAR1 not really")["kind"] == "none"


def test_markdown_is_rendered_without_script():
    shown = show("README.md", b"# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))\n")
    assert shown["kind"] == "markdown" and "<h1>Title</h1>" in shown["html"]
    assert "<script>" not in shown["html"] and "javascript:" not in shown["html"]


def test_text_is_cut_binary_is_refused_and_cells_are_bounded():
    long = show("notes.txt", b"x" * (TEXT_BYTES * 2))
    assert long["kind"] == "text" and long["truncated"] and len(long["text"]) == TEXT_BYTES
    assert show("weights.bin", b"\x00\x01\x02" * 100) == {"kind": "none", "reason": "binary file"}
    assert show("empty.txt", b"") == {"kind": "none", "reason": "empty file"}
    assert show("cat.png", b"\x89PNG....")["kind"] == "image"
    wide = show("wide.csv", ("a\n" + "y" * 5000 + "\n").encode())
    assert len(wide["rows"][0][0]) == 200
    # A CSV that is not UTF-8 is not shown as garbage.
    assert show("latin.csv", "name\ncaf\xe9 cr\xe8me\n".encode("latin-1") * 3)["kind"] == "none"
