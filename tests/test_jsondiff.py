from theater.jsondiff import differences


def test_argument_difference_reads_like_a_sentence():
    d = differences({"args": {"len": 32}, "result": "x"}, {"args": {"len": 16}, "result": "x"})
    assert [x.describe() for x in d] == ["argument len: expected 32, got 16"]


def test_nested_missing_added_and_lists():
    e = {"result": {"ok": [{"some": "base64:AAA="}]}, "a": 1}
    a = {"result": {"ok": [{"some": "base64:AAE="}]}, "b": 2}
    d = differences(e, a)
    assert [(x.path, x.kind) for x in d] == [("a", "missing"), ("b", "added"), ("result.ok[0].some", "changed")]
    assert differences([1, 2, 3], [1, 2]) == differences([1, 2, 3], [1, 2])
    assert differences([1, 2, 3], [1, 2])[0].kind == "missing"


def test_equal_values_have_no_differences():
    v = {"x": [1, {"y": None}], "z": "s"}
    assert differences(v, v) == []
    assert differences(1, True)  # int vs bool differ
