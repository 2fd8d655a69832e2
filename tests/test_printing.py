"""debugprint (text trees) and pydotprint (pictures, DOT fallback without graphviz)."""

import io
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import eggflow as ef
import eggflow.tensor as T
from eggflow import printing
from eggflow.printing import debugprint, pydotprint

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="graphviz's dot is not installed (make test installs it)")


def lines(text):
    return text.rstrip("\n").split("\n")


# -- debugprint -----------------------------------------------------------------------------
def test_scalar_addition_tree():
    a, b = T.dscalar("a"), T.dscalar("b")
    assert lines(debugprint(a + b, file="str")) == [
        "add [id A] <Tensor(float64, ())>",
        " |a [id B] <Tensor(float64, ())>",
        " |b [id C] <Tensor(float64, ())>",
    ]
    assert lines(debugprint(a + b, file="str", print_type=False, ids="")) == [
        "add", " |a", " |b"]


def test_params_names_constants_and_nesting():
    x = T.dmatrix("x")
    z = x.T.sum(axis=0) * 2
    z.name = "z"
    out = lines(debugprint([z, T.dvector() + np.array([0.1, 0.2])], file="str", print_type=False))
    assert out == [
        "mul [id A] 'z'",
        " |sum{axis=(0,)} [id B]",
        " | |dimshuffle{1,0} [id C]",
        " |   |x [id D]",
        " |constant{2} [id E]",
        "add [id F]",
        " |<input> [id G]",
        " |constant{[0.1 0.2]} [id H]",
    ]


def test_shared_subexpression_printed_once():
    x = T.dvector("x")
    s = T.exp(x)  # hash-consing: both uses are the same node
    text = debugprint(s * T.exp(x) + s, file="str")
    assert text.count("exp [id") == 3  # its full line once, then two references
    assert text.count("exp [id C] <Tensor(float64, (?,))>") == 1
    assert text.count("x [id") == 1  # its subtree is not repeated
    reference = [ln for ln in lines(text) if ln.strip(" |") == "exp [id C]"]
    assert len(reference) == 2


def test_function_outputs_then_updates():
    x = T.dvector("x")
    w = ef.shared(np.zeros(3), name="w")
    b = ef.shared(0.0, name="b")
    cost = ((x * w).sum() + b) ** 2
    gw, gb = ef.grad(cost, [w, b])
    f = ef.function([x], cost, updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)],
                    mode="FAST_COMPILE")
    text = debugprint(f, file="str")
    out = lines(text)
    assert out[0].startswith("pow [id A] <Tensor(float64, ())>")
    assert "w [id " in text and "(shared)" in text
    assert re.search(r"^ *\| *\| *\|w \[id [A-Z]+\] \(shared\) <Tensor\(float64, \(\?,\)\)>$",
                     text, re.M)
    u_w, u_b = out.index("update of w:"), out.index("update of b:")
    assert 0 < u_w < u_b
    assert out[u_w + 1].startswith("sub [id ")  # each update is a tree at column 0
    assert out[u_b + 1].startswith("sub [id ")
    # shared variables and the cost's subgraph were printed above: only references now
    assert text.count("(shared)") == 2
    assert all(" <" not in ln for ln in out[u_w:] if ln.strip(" |").startswith(("w ", "b ")))


def test_file_argument(capsys):
    x = T.dscalar("x")
    assert debugprint(x) is sys.stdout
    assert capsys.readouterr().out == "x [id A] <Tensor(float64, ())>\n"
    buf = io.StringIO()
    assert debugprint(-x, file=buf) is buf
    assert buf.getvalue() == "neg [id A] <Tensor(float64, ())>\n |x [id B] <Tensor(float64, ())>\n"


def test_ids_styles_and_many_ids():
    assert [printing._char_id(k) for k in (0, 1, 25, 26, 27, 26 * 26)] == [
        "A", "B", "Z", "BA", "BB", "BAA"]
    x = T.dscalar("x")
    assert lines(debugprint(x + 1, file="str", ids="int", print_type=False)) == [
        "add [id 0]", " |x [id 1]", " |constant{1} [id 2]"]
    assert f"[id {hex(id(x))}]" in debugprint(x, file="str", ids="id")
    with pytest.raises(ValueError, match="ids must be"):
        debugprint(x, file="str", ids="letters")


def test_deep_graph_no_recursion_limit_and_depth():
    x = T.dvector("x")
    z = x
    for _ in range(3000):  # deeper than Python's default recursion limit
        z = T.tanh(z)
    out = lines(debugprint(z, file="str", print_type=False, ids=""))
    assert len(out) == 3001 and out[-1].strip(" |") == "x"
    assert lines(debugprint(z, file="str", print_type=False, depth=2)) == [
        "tanh [id A]", " |tanh [id B]", "   |tanh [id C]"]


def test_stop_on_name_and_map_index_inner_graph():
    x = T.dvector("x")
    h = T.exp(x)
    h.name = "h"
    assert lines(debugprint(h + 1, file="str", print_type=False, stop_on_name=True)) == [
        "add [id A]", " |exp [id B] 'h'", " |constant{1} [id C]"]
    i = T.lscalar("i")
    m = T.map_index(i, x * i, 3)
    out = lines(debugprint(m, file="str", print_type=False))
    assert out[0] == "map_index{index=i} [id A]"
    assert out[out.index("Inner graphs:") + 2:] == [
        "map_index{index=i} [id A]", " >mul [id D]", " > |x [id C]", " > |i [id E]"]


def test_bad_argument():
    with pytest.raises(TypeError, match="Function, a symbolic variable"):
        debugprint(3.0)
    with pytest.raises(TypeError):
        pydotprint([T.dscalar(), "x"])


# -- pydotprint -----------------------------------------------------------------------------
def small_function():
    a, b = T.dscalars("a", "b")
    w = ef.shared(np.ones(2), name="w")
    c = a + b
    return ef.function([a, b], [c, c * 2], updates=[(w, w * c)])


@needs_dot
def test_png(tmp_path, capsys):
    path = pydotprint(small_function(), outfile=str(tmp_path / "scalar_addition.png"),
                      var_with_name_simple=True)
    assert path == str(tmp_path / "scalar_addition.png")
    assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "available at" in capsys.readouterr().out


@needs_dot
def test_svg_parses_and_has_labels(tmp_path):
    path = pydotprint(small_function(), outfile=str(tmp_path / "f.svg"),
                      print_output_file=False)
    text = Path(path).read_text(encoding="utf-8")
    root = ET.fromstring(text.encode())  # well-formed XML
    assert root.tag.endswith("svg") and "<svg" in text
    for label in ("a Tensor(float64, ())", "w Tensor(float64, (?,))", "update of w", "add",
                  "constant{2}"):
        assert label in text


@needs_dot
def test_default_outfile_and_format_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = T.dvector("x")
    path = pydotprint(T.exp(x), print_output_file=False)
    assert path == str(tmp_path / "eggflow.pydotprint.png")
    assert Path(path).read_bytes()[:4] == b"\x89PNG"
    path = pydotprint([T.exp(x)], outfile=str(tmp_path / "g"), format="svg",
                      print_output_file=False)
    assert path.endswith("g.svg") and b"<svg" in Path(path).read_bytes()
    assert pydotprint(x * 2, format="svg", return_image=True).lstrip().startswith(b"<?xml")


@needs_dot
def test_unknown_format_is_a_clear_error(tmp_path):
    with pytest.raises(RuntimeError, match="could not write 'nosuchformat'"):
        pydotprint(T.dvector("x"), outfile=str(tmp_path / "g.nosuchformat"))


def test_dot_source_labels_colors_and_edges(tmp_path):
    text = Path(pydotprint(small_function(), outfile=str(tmp_path / "f.dot"),
                           print_output_file=False)).read_text()
    assert text.startswith("digraph")
    assert re.search(r'label="a Tensor\(float64, \(\)\)", shape=box, style=filled, '
                     r"fillcolor=limegreen", text)
    assert re.search(r'label="w Tensor\(float64, \(\?,\)\)".*fillcolor=cyan', text)
    assert re.search(r'label="add", shape=ellipse', text)
    assert text.count('[label="0"]') >= 2 and text.count('[label="1"]') >= 2
    assert text.count("fillcolor=dodgerblue") == 3  # two outputs, one update
    simple = pydotprint(small_function(), format="dot", return_image=True,
                        var_with_name_simple=True)
    assert 'label="a"' in simple and "Tensor(" not in simple.replace("Tensor(float64, ())", "")


def test_update_of_a_shared_variable_the_outputs_do_not_read():
    x = T.dvector("x")
    w = ef.shared(np.zeros(2), name="w")
    f = ef.function([x], x * 2, updates=[(w, x)])
    text = pydotprint(f, format="dot", return_image=True)
    assert 'label="w Tensor(float64, (?,))"' in text and 'label="update of w"' in text
    assert text.count("style=dashed") == 1
    last = lines(debugprint(f, file="str", print_type=False))[-2:]
    assert last[0] == "update of w:" and last[1].startswith("x [id ")


def test_compact_hides_unnamed_intermediates():
    x = T.dvector("x")
    y = T.exp(T.tanh(x))
    compact = pydotprint(y, format="dot", return_image=True)
    full = pydotprint(y, format="dot", return_image=True, compact=False)
    assert compact.count("shape=box") == 2  # x and the output
    assert full.count("shape=box") == 3  # plus tanh's result


def test_labels_are_quoted_for_dot():
    x = T.dvector('a"b')
    text = pydotprint(T.exp(x) + T.dvector(), format="dot", return_image=True,
                      var_with_name_simple=True)
    assert r'label="a\"b"' in text
    assert 'label="input Tensor(float64, (?,))"' not in text
    long = T.dvector("v" * 100)
    assert "v" * 67 + '..."' in pydotprint(long, format="dot", return_image=True)


def test_dot_fallback_without_graphviz(tmp_path, monkeypatch, recwarn):
    monkeypatch.setattr(printing.shutil, "which", lambda name: None)
    out = tmp_path / "graph.png"
    with pytest.warns(UserWarning, match=r"`dot` program was not found.*graph\.dot.*apt-get "
                                         r"install graphviz"):
        path = pydotprint(small_function(), outfile=str(out), print_output_file=False)
    assert path == str(tmp_path / "graph.dot")
    assert not out.exists()
    assert Path(path).read_text().startswith("digraph")


def test_function_prints_the_graph_that_runs():
    x = T.dvector("x")
    f = ef.function([x], T.log(1 + T.exp(x)))  # FAST_RUN: the optimizer makes it softplus
    text = debugprint(f, file="str")
    assert "softplus" in text and "log" not in text  # in a fused kernel (the C backend's form)
