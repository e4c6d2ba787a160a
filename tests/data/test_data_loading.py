"""load_rows / write_jsonl: round trips, one DataError per bad input (message tested), and
demonstration filtering counts."""

import json
import math
import os

import pytest

from hybridrl.data.loading import DataError, load_rows, row_to_record, write_jsonl
from hybridrl.schema import Row
from hybridrl.data.tasks import build_task

ROWS = [
    Row("What is 2 + 3?", ["5"], "2 + 3 = 5. The answer is \\boxed{5}.", "chain_sum", 1, "a", {"src": "x"}),
    Row([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Half of 1?"}],
        ["1/2", "0.5"], None, None, "easy", "b"),
    Row("Name a prime.", ["2"], id="c"),
]


def test_jsonl_round_trip(tmp_path):
    path = tmp_path / "d.jsonl"
    write_jsonl(ROWS, path)
    rows, stats = load_rows(path, verify_demos=False)
    assert rows == ROWS
    assert stats == {"rows": 3, "demos_kept": 1, "demos_dropped": 0, "demos_unverified": 0, "demos_dropped_ids": []}
    assert os.listdir(tmp_path) == ["d.jsonl"]  # no temporary file left behind


def _records():
    # same keys in every record, so that arrow does not add null-filled columns
    return [{"prompt": f"q{i}", "answer": [str(i)], "demonstration": None, "task": "math",
             "difficulty": i, "id": f"r{i}"} for i in range(3)]


def _expected():
    return [Row(f"q{i}", [str(i)], None, "math", i, f"r{i}") for i in range(3)]


def test_parquet_round_trip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.Table.from_pylist(_records()), path)
    assert load_rows(path, verify_demos=False)[0] == _expected()


def test_hf_folder_round_trip(tmp_path):
    import datasets

    datasets.Dataset.from_list(_records()).save_to_disk(str(tmp_path / "ds"))
    assert load_rows(tmp_path / "ds", verify_demos=False)[0] == _expected()
    datasets.DatasetDict({"train": datasets.Dataset.from_list(_records()),
                          "test": datasets.Dataset.from_list(_records()[:1])}).save_to_disk(str(tmp_path / "dd"))
    assert load_rows(tmp_path / "dd", verify_demos=False)[0] == _expected()  # the train split


def test_defaults_numbers_and_extra_fields(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(
        '{"prompt": "p", "answer": 42, "source": "web"}\n'
        "\n"  # blank lines are skipped but still counted
        '{"prompt": "p", "answer": [1, "2", 2.5], "idx": 7, "metadata": {"source": "kept"}}\n'
    )
    rows, _ = load_rows(path, verify_demos=False)
    assert rows[0] == Row("p", ["42"], id="data-1", metadata={"source": "web"})
    # explicit metadata wins over an extra field of the same name; 'idx' is not a typo of 'id'
    assert rows[1] == Row("p", ["1", "2", "2.5"], id="data-3", metadata={"source": "kept", "idx": 7})


BAD_JSONL = [
    # (file content, expected message after "<path>")
    ('{"prompt": "q", "answer": "1"}\n{"prompt": "q", "answer": {"a": 1}}\n',
     ":2: field 'answer': expected a string or a list of strings, got dict"),
    ('{"answer": "1", "question": "q"}\n', ":1: field 'prompt': missing (the row has fields: answer, question); "
     "if another column holds it, pass prompt_column=NAME"),
    ('{"prompt": "  ", "answer": "1"}\n', ":1: field 'prompt': empty string"),
    ('{"prompt": [], "answer": "1"}\n', ":1: field 'prompt': empty list of messages"),
    ('{"prompt": [{"role": "user"}], "answer": "1"}\n',
     ":1: field 'prompt': message 0: 'content' must be a string, got null"),
    ('{"prompt": 3, "answer": "1"}\n', ":1: field 'prompt': expected a string or a list of messages, got int"),
    ('{"prompt": "q"}\n', ":1: field 'answer': missing (the row has fields: prompt); "
     "if another column holds it, pass answer_column=NAME"),
    ('{"prompt": "q", "answer": []}\n', ":1: field 'answer': empty list"),
    ('{"prompt": "q", "answer": ""}\n', ":1: field 'answer': empty string"),
    ('{"prompt": "q", "answer": true}\n', ":1: field 'answer': expected a string or a list of strings, got bool"),
    ('{"prompt": "q", "answer": ["1", null]}\n',
     ":1: field 'answer': item 1: expected a non-empty string or a number, got null None"),
    ('{"prompt": "q", "answer": "1", "demonstration": 5}\n', ":1: field 'demonstration': expected a string, got int"),
    ('{"prompt": "q", "answer": "1", "task": ["a"]}\n', ":1: field 'task': expected a string, got list"),
    ('{"prompt": "q", "answer": "1", "difficulty": [1]}\n',
     ":1: field 'difficulty': expected a string or a number, got list"),
    ('{"prompt": "q", "answer": "1", "id": 1.5}\n', ":1: field 'id': expected a string or an integer, got float"),
    ('{"prompt": "q", "answer": "1", "metadata": "x"}\n', ":1: field 'metadata': expected an object, got str"),
    ('{"prompt": "q", "answer": "1", "answers": ["2"]}\n',
     ":1: field 'answers': unknown field (did you mean 'answer'?)"),
    ('{"prompt": "q", "answer": "1", "Demonstration": "d"}\n',
     ":1: field 'Demonstration': unknown field (did you mean 'demonstration'?)"),
    ('{"prompt": "q", "answer": "1", "id": "x"}\n{"prompt": "q", "answer": "1", "id": "x"}\n',
     ":2: field 'id': duplicate id 'x' (first at {path}:1)"),
    ("[1, 2]\n", ":1: expected a JSON object, got list"),
    ('{"prompt": "q", "answer": "1"}\n{"prompt": "q", answer: 1}\n{"prompt": "q", "answer": "1"}\n',
     ":2: invalid JSON at column 17: Expecting property name enclosed in double quotes"),
    ('{"prompt": "q", "answer": "1"}\n{"prompt": "q", "ans',
     ":2: truncated last line (no final newline; invalid JSON at column 17: Unterminated string starting at)"),
]


@pytest.mark.parametrize("content, message", BAD_JSONL)
def test_bad_jsonl_names_file_line_and_field(tmp_path, content, message):
    path = tmp_path / "data.jsonl"
    path.write_text(content)
    with pytest.raises(DataError) as err:
        load_rows(path, verify_demos=False)
    assert str(err.value) == f"{path}" + message.format(path=path)


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"prompt": "q", "answer": "1"}\n{"prompt": "caf\xe9", "answer": "1"}\n')
    with pytest.raises(DataError) as err:
        load_rows(path, verify_demos=False)
    assert str(err.value) == f"{path}:2: not valid UTF-8 (byte 16 of the line: b'\\xe9')"


def test_bom_and_crlf_are_fine(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "q", "answer": "1"}\r\n{"prompt": "r", "answer": "2"}\r\n')
    assert [r.prompt for r in load_rows(path, verify_demos=False)[0]] == ["q", "r"]


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "data.jsonl"
    path.write_text(content)
    with pytest.raises(DataError, match="empty file"):
        load_rows(path)


def test_bad_parquet_row_names_row_index(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "data.parquet"
    pq.write_table(pa.Table.from_pylist([{"prompt": "q", "answer": "1"}, {"prompt": "q", "answer": None}]), path)
    with pytest.raises(DataError) as err:
        load_rows(path)
    # the second row is "row 2", counted from 1 like JSONL lines (it said "row 1" before #14)
    assert str(err.value) == (f"{path}: row 2: field 'answer': missing (the row has fields: prompt, answer); "
                              f"if another column holds it, pass answer_column=NAME")


@pytest.mark.parametrize("name, message", [("missing.jsonl", "no such file or folder"),
                                           ("data.txt", "unsupported file type '.txt'"),
                                           ("data.csv", "empty file")])  # .csv is read since #29
def test_bad_paths(tmp_path, name, message):
    path = tmp_path / name
    if name.endswith((".csv", ".txt")):
        path.write_text("a,b\n")
    with pytest.raises(DataError, match=message):
        load_rows(path)


def test_csv_file_reads_like_a_folder_of_it(tmp_path):
    # #29 item 15: a folder holding this CSV trained, the .csv file itself was refused
    path = tmp_path / "math.csv"
    path.write_text("question,final,source\nWhat is 1 + 1?,2,mine\n\"Say \"\"hi\"\", then 3?\",3,\n")
    rows, _ = load_rows(path, columns={"prompt": "question", "answer": "final"})
    assert [(r.prompt, r.answer, r.metadata) for r in rows] == [
        ("What is 1 + 1?", ["2"], {"source": "mine"}), ('Say "hi", then 3?', ["3"], {"source": None})]
    assert [r.id for r in rows] == ["math-0", "math-1"]  # row places, as for parquet


def test_demonstrations_that_do_not_verify_are_dropped_and_counted(tmp_path):
    rows = build_task("chain_sum", size=4, seed=0) + build_task("knights_knaves", size=2, seed=0)
    rows.append(Row("What is 1/2 + 1/2?", ["1"], "1/2 + 1/2 = 1, so \\boxed{1}.", id="math-ok"))
    rows[1].demonstration = rows[1].demonstration.replace(f"\\boxed{{{rows[1].answer[0]}}}", "\\boxed{1000}")
    rows[2].demonstration = "I do not know."  # no answer at all
    kk = rows[4]  # flip every role in the boxed answer
    terms = kk.metadata["knight_knave_terms"]
    flipped = kk.answer[0].rstrip(".").replace(terms["a_knight"], "@").replace(terms["a_knave"], terms["a_knight"])
    kk.demonstration = f"So: \\boxed{{{flipped.replace('@', terms['a_knave'])}}}."
    path = tmp_path / "demos.jsonl"
    write_jsonl(rows, path)

    loaded, stats = load_rows(path)
    # dropped: chain_sum-train-1 (wrong number), -2 (no answer), knights_knaves-train-0 (roles flipped)
    assert stats["demos_dropped"] == 3 and stats["demos_kept"] == 4 and stats["demos_unverified"] == 0
    assert stats["demos_dropped_ids"] == ["chain_sum-train-1", "chain_sum-train-2", "knights_knaves-train-0"]
    assert [r.demonstration is None for r in loaded] == [False, True, True, False, True, False, False]

    _, unchecked = load_rows(path, verify_demos=False)
    assert unchecked["demos_kept"] == 7 and unchecked["demos_dropped"] == 0


def test_builtin_demonstrations_survive_the_filter(tmp_path):
    rows = [r for name in ("gsm_symbolic", "knights_knaves", "basic_arithmetic", "lcm")
            for r in build_task(name, size=10, seed=1, difficulty=1)]
    write_jsonl(rows, tmp_path / "b.jsonl")
    loaded, stats = load_rows(tmp_path / "b.jsonl")
    assert stats["demos_dropped"] == 0 and stats["demos_kept"] == 40
    assert loaded == rows  # metadata (nested knights_knaves statements) survives JSONL


def test_write_jsonl_is_atomic_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(ROWS[:1], path)
    before = path.read_text()
    bad = Row("q", ["1"], metadata={"x": math.nan})  # NaN is not JSON
    with pytest.raises(ValueError):
        write_jsonl([ROWS[1], bad], path)
    assert path.read_text() == before and os.listdir(tmp_path) == ["out.jsonl"]


def test_write_jsonl_record_shape(tmp_path):
    path = tmp_path / "sub" / "out.jsonl"  # parent folder created
    write_jsonl(ROWS[2:], path)
    assert json.loads(path.read_text()) == {"prompt": "Name a prime.", "answer": ["2"], "id": "c"}
    assert row_to_record(ROWS[0])["metadata"] == {"src": "x"}


def test_write_rows_parquet_round_trip_and_refuses_other_suffixes(tmp_path):
    from hybridrl.data.loading import write_rows
    from hybridrl.schema import Row

    rows = [Row(prompt="1+1?", answer=["2"], demonstration="1+1=2. \\boxed{2}", id="a"),
            Row(prompt="2+2?", answer=["4", "4.0"], id="b", metadata={"src": "x"})]
    out = tmp_path / "d.parquet"
    write_rows(rows, out)
    assert out.read_bytes()[:4] == b"PAR1"  # a parquet file, not JSONL with a parquet name (before #14)
    back, _ = load_rows(out, verify_demos=False)
    assert [r.id for r in back] == ["a", "b"] and back[1].answer == ["4", "4.0"] and back[1].metadata == {"src": "x"}
    assert back[0].demonstration == rows[0].demonstration
    mixed = rows + [Row(prompt=[{"role": "user", "content": "3+3?"}], answer=["6"], id="c")]
    with pytest.raises(DataError, match=r"field 'prompt' mixes list and str values; a parquet column has one type"):
        write_rows(mixed, out)
    with pytest.raises(DataError, match=r"cannot write '.csv' files; use .jsonl or .parquet"):
        write_rows(rows, tmp_path / "d.csv")


def test_column_mapping_and_split_of_a_saved_dataset(tmp_path):
    import datasets

    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_list([{"question": "1+1?", "final": "2"}, {"question": "2+3?", "final": "5"}]),
        "test": datasets.Dataset.from_list([{"question": "3+3?", "final": "6"}]),
    })
    folder = tmp_path / "ds"
    dd.save_to_disk(str(folder))
    cols = {"prompt": "question", "answer": "final"}
    rows, _ = load_rows(folder, columns=cols, verify_demos=False)
    assert [r.prompt for r in rows] == ["1+1?", "2+3?"] and rows[1].answer == ["5"]
    test, _ = load_rows(folder, columns=cols, split="test", verify_demos=False)
    assert [r.answer for r in test] == [["6"]]
    with pytest.raises(DataError, match=r"no split 'dev'; it has test, train"):
        load_rows(folder, columns=cols, split="dev")
    with pytest.raises(DataError, match=r"row 1: no column 'query' \(mapped to 'prompt'\); the row has columns: final, question"):
        load_rows(folder, columns={"prompt": "query"})


def test_a_folder_of_data_files_loads_offline(tmp_path):
    # e.g. a hub dataset cloned with git: plain data files that datasets.load_dataset reads
    folder = tmp_path / "gsm"
    folder.mkdir()
    (folder / "train.jsonl").write_text('{"q": "1+1?", "a": "2"}\n{"q": "2+2?", "a": "4"}\n')
    rows, _ = load_rows(folder, columns={"prompt": "q", "answer": "a"}, verify_demos=False)
    assert [r.answer for r in rows] == [["2"], ["4"]]
    with pytest.raises(DataError, match=r"nosuch/dataset: not a file or folder here, and loading it from the Hugging Face hub failed"):
        load_rows("nosuch/dataset")
