"""Explorer: frames, the kernel-free HTML fallback, the live widget and the MIME bundle."""

import base64
import itertools
import json
import sys
import types
from html.parser import HTMLParser

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlopt_lab.explorers import MAX_FRAMES, Explorer
from dlopt_lab.landscapes import get_landscape
from dlopt_lab.optim.functional import sgd
from dlopt_lab.plotting import plot_landscape, plot_loss, plot_path
from dlopt_lab.trajectories import run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class _Counter:
    """A draw function that records every call; the frame depends on both values."""

    def __init__(self):
        self.calls = []

    def __call__(self, fig, freq, phase):
        self.calls.append((freq, phase))
        ax = fig.subplots()
        x = np.linspace(0, 1, 100)
        ax.plot(x, np.sin(2 * np.pi * freq * x + phase))
        ax.set_title(f"freq={freq}, phase={phase}")


CONTROLS = {"freq": [1, 2, 3], "phase": [0.0, 1.5]}


@pytest.fixture
def explorer():
    return Explorer(_Counter(), CONTROLS, labels={"freq": "frequency"}, figsize=(3, 2), dpi=40)


class _Page(HTMLParser):
    """Collects the fallback's range inputs, images and outputs."""

    def __init__(self):
        super().__init__()
        self.inputs, self.imgs, self.outputs, self.divs = [], [], [], []
        self._in_output = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "input" and a.get("type") == "range":
            self.inputs.append(a)
        elif tag == "img" and a.get("class") == "dlx-frame":
            self.imgs.append(a)
        elif tag == "output":
            self._in_output = True
            self.outputs.append("")
        elif tag == "div":
            self.divs.append(a)

    def handle_endtag(self, tag):
        if tag == "output":
            self._in_output = False

    def handle_data(self, data):
        if self._in_output:
            self.outputs[-1] += data


def _parse(html_text: str) -> _Page:
    page = _Page()
    page.feed(html_text)
    page.close()
    return page


def test_frames_are_distinct_pngs_one_per_combination(explorer):
    frames = explorer.frames()
    assert sorted(frames) == sorted(itertools.product(range(3), range(2)))
    assert all(png.startswith(PNG_MAGIC) for png in frames.values())
    assert len(set(frames.values())) == 6  # different values draw different frames
    assert frames[(1, 0)] == explorer.render(freq=2, phase=0.0)
    assert explorer.render() == frames[(1, 0)]  # the initial values: the middle ones


def test_each_combination_is_drawn_once(explorer):
    draw = explorer.draw
    explorer.frames()
    explorer.frames()
    explorer.fallback_html()
    explorer.render(freq=3, phase=1.5)
    assert sorted(draw.calls) == sorted(itertools.product(CONTROLS["freq"], CONTROLS["phase"]))


def test_figure_draws_one_frame_outside_pyplot(explorer):
    before = plt.get_fignums()
    fig = explorer.figure(phase=1.5)
    assert plt.get_fignums() == before
    assert explorer.draw.calls == [(2, 1.5)]  # freq took its initial value
    assert fig.axes[0].get_title() == "freq=2, phase=1.5"
    with pytest.raises(ValueError, match="unknown control 'amplitude'"):
        explorer.figure(amplitude=2)
    with pytest.raises(ValueError, match=r"freq=5 is not one of"):
        explorer.render(freq=5)


def test_fallback_html_structure(explorer):
    text = explorer.fallback_html()
    page = _parse(text)
    assert len(page.divs) >= 1 and page.divs[0]["class"] == "dlopt-explorer"
    # one slider per control, in order, positioned at the initial value
    assert [i["data-control"] for i in page.inputs] == list(CONTROLS)
    for inp, (name, values) in zip(page.inputs, CONTROLS.items()):
        assert (inp["min"], inp["max"], inp["step"]) == ("0", str(len(values) - 1), "1")
        assert inp["value"] == str(values.index(explorer.initial[name]))
        labels = json.loads(inp["data-labels"])
        assert labels == [format(v, ".3g") for v in values]
    assert page.inputs[0]["aria-label"] == "frequency" and page.inputs[1]["aria-label"] == "phase"
    assert page.outputs == ["2", "0"]
    # one image per frame; its key is the joined slider positions and its data that frame's PNG
    assert len(page.imgs) == 6
    keys = [img["data-key"] for img in page.imgs]
    assert sorted(keys) == sorted(f"{i}_{j}" for i in range(3) for j in range(2))
    for img in page.imgs:
        i, j = map(int, img["data-key"].split("_"))
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        png = base64.b64decode(img["src"][len(prefix):])
        assert png == explorer.render(freq=CONTROLS["freq"][i], phase=CONTROLS["phase"][j])
    shown = [img["data-key"] for img in page.imgs if "display:block" in img["style"]]
    hidden = [img for img in page.imgs if "display:none" in img["style"]]
    assert shown == ["1_0"] and len(hidden) == 5


def test_fallback_handler_selects_the_frame_keyed_by_slider_positions(explorer):
    page = _parse(explorer.fallback_html())
    handlers = {inp["oninput"] for inp in page.inputs}
    assert len(handlers) == 1
    handler = handlers.pop()
    # the handler joins the values (positions) of the explorer's range inputs with "_" ...
    assert "closest('.dlopt-explorer')" in handler
    assert "querySelectorAll('input[type=range]')" in handler
    assert "return i.value" in handler and ".join('_')" in handler
    # ... and shows the img.dlx-frame whose data-key equals that key, hiding the others
    assert "querySelectorAll('img.dlx-frame')" in handler
    assert "getAttribute('data-key')===k" in handler and "'block':'none'" in handler
    assert "this.nextElementSibling.textContent" in handler
    # The same logic in Python: every slider position selects exactly one frame.
    keys = [img["data-key"] for img in page.imgs]
    ranges = [range(int(i["min"]), int(i["max"]) + 1) for i in page.inputs]
    for positions in itertools.product(*ranges):
        assert keys.count("_".join(map(str, positions))) == 1


def test_fallback_of_a_typical_two_panel_explorer_stays_small():
    land = get_landscape("rosenbrock")  # log-spaced contours: among the heaviest frames
    lrs = [1e-4, 3e-4, 1e-3, 1.5e-3, 2e-3, 2.5e-3, 3e-3, 4e-3, 5e-3, 6e-3]

    def draw(fig, lr):
        ax1, ax2 = fig.subplots(1, 2)
        traj = run(land, sgd(lr=lr), num_steps=200)
        plot_landscape(land, ax1)
        plot_path(traj, ax1)
        plot_loss({"loss": traj.values + 1e-12}, ax2)

    ex = Explorer(draw, {"lr": lrs}, initial={"lr": 1e-3})
    text = ex.fallback_html()
    page = _parse(text)
    assert len(page.imgs) == 10
    assert [img["data-key"] for img in page.imgs if "display:block" in img["style"]] == ["2"]
    assert len(text.encode()) < 1_000_000


def test_mimebundle_with_ipywidgets(explorer):
    pytest.importorskip("ipywidgets")
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == "<Explorer (freq: 3 values, phase: 2 values)>"
    assert '<div class="dlopt-explorer"' in bundle["text/html"]
    view = bundle[WIDGET_MIME]
    assert view["version_major"] == 2 and isinstance(view["model_id"], str) and view["model_id"]
    assert view["model_id"] == explorer._live.model_id


def test_mimebundle_in_colab_has_only_the_widget(explorer, monkeypatch):
    pytest.importorskip("ipywidgets")
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_MIME in bundle and bundle[WIDGET_MIME]["model_id"]
    assert "text/html" not in bundle and "text/plain" in bundle


def test_mimebundle_without_ipywidgets_has_only_the_fallback(explorer, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # makes `import ipywidgets` fail
    with pytest.raises(ImportError):
        explorer.widget()
    bundle = explorer._repr_mimebundle_()
    assert WIDGET_MIME not in bundle
    assert len(_parse(bundle["text/html"]).imgs) == 6
    # in Colab without ipywidgets the fallback is all there is
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    assert "text/html" in explorer._repr_mimebundle_()


def test_live_widget_shows_the_frame_of_the_slider_values(explorer):
    widgets = pytest.importorskip("ipywidgets")
    box = explorer.widget()
    *sliders, image = box.children
    assert isinstance(image, widgets.Image)
    assert [s.description for s in sliders] == ["frequency", "phase"]
    assert [s.value for s in sliders] == [2, 0.0]
    assert image.value == explorer.render(freq=2, phase=0.0)
    sliders[0].value = 3
    assert image.value == explorer.render(freq=3, phase=0.0)
    sliders[1].value = 1.5
    assert image.value == explorer.render(freq=3, phase=1.5)
    assert image.value != explorer.render(freq=2, phase=0.0)


def _noop(fig, **values):
    pass


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((_noop, {}), {}, "controls must be a non-empty mapping"),
        ((_noop, [("a", [1, 2])]), {}, "controls must be a non-empty mapping"),
        ((_noop, {"a": [1]}), {}, r"controls\['a'\] needs at least 2 values, got 1"),
        ((_noop, {"a": "abc"}), {}, r"controls\['a'\] must be a sequence of values, not a string"),
        ((_noop, {"a": 5}), {}, r"controls\['a'\] must be a sequence of values"),
        ((_noop, {"a": range(9), "b": range(8)}), {}, f"72 combinations; at most {MAX_FRAMES}"),
        ((_noop, {"a": [1, 2, 3]}), {"initial": {"a": 4}}, r"initial\['a'\]=4 is not one of"),
        ((_noop, {"a": [1, 2, 3]}), {"initial": {"b": 1}}, r"initial names unknown controls: \['b"),
        (("draw", {"a": [1, 2]}), {}, "draw must be a callable"),
        ((None, {"a": [1, 2]}), {}, "draw must be a callable"),
    ],
)
def test_invalid_explorers_are_rejected(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Explorer(*args, **kwargs)


def test_limits_are_inclusive_and_initial_defaults_to_the_middle():
    ex = Explorer(_noop, {"a": range(8), "b": range(8)})  # exactly MAX_FRAMES
    assert ex.initial == {"a": 3, "b": 3}
    ex = Explorer(_noop, {"a": [10, 20, 30, 40, 50]}, initial={"a": 50})
    assert ex.initial == {"a": 50}
