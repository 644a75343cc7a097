"""Slider figures that work in three places: Jupyter, Colab and the static website.

An :class:`Explorer` wires a few sliders to a drawing function ``draw(fig, **values)``.
Displayed in a notebook, its single output carries two representations:

* ``application/vnd.jupyter.widget-view+json``: a live ipywidgets control. Jupyter and Colab
  show this one; moving a slider calls ``draw`` in the kernel.
* ``text/html``: a kernel-free fallback. Every combination of slider values is drawn once,
  ahead of time, as a small PNG; a plain ``<input type=range>`` shows the matching frame.
  The book's ``_config.yml`` tells myst-nb (``nb_mime_priority_overrides``) to prefer this
  representation for the HTML builder, so the slider still works on the static page.

Inside Colab only the live widget is emitted (which of two representations Colab's front end
picks is not documented). ``ipywidgets`` is imported lazily; without it, the fallback alone
is shown. Both versions 7.7 (Colab's) and 8.x work.

Slider values are discrete (the fallback has to draw each one), so choose them to tell the
story: the values where behaviour changes, not a uniform grid.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Explorer"]

#: The fallback of one explorer must stay below this many bytes (pages stay light).
MAX_FALLBACK_BYTES = 1_000_000
#: Above this many frames an explorer refuses to pre-render (it would be slow and heavy).
MAX_FRAMES = 64
# Room for tick labels, axis labels and a title above each panel.
_DEFAULT_MARGINS = {"left": 0.08, "right": 0.98, "bottom": 0.15, "top": 0.89, "wspace": 0.28,
                    "hspace": 0.35}


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def _png_bytes(fig: Figure, dpi: float, colors: int | None) -> bytes:
    """Render ``fig`` to PNG bytes; ``colors`` quantizes to a palette to shrink the file."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    data = buf.getvalue()
    if colors:
        from PIL import Image

        img = Image.open(io.BytesIO(data)).convert("RGB")
        out = io.BytesIO()
        img.quantize(colors=colors, method=Image.Quantize.MEDIANCUT).save(out, format="PNG")
        if out.tell() < len(data):
            data = out.getvalue()
    return data


class Explorer:
    """A figure with sliders: live in a kernel, pre-rendered frames on the static website.

    Args:
        draw: ``draw(fig, **values)`` draws one frame into an empty matplotlib ``Figure``
            (it makes its own axes with ``fig.subplots``). It must not call ``plt.show``.
        controls: ``name -> sequence of values`` (at least two each); one slider per name.
        initial: the starting value of each control (default: the middle value).
        labels: ``name -> label`` shown beside the slider (default: the name).
        fmt: a format string for the values shown beside the sliders, e.g. ``"{:.3g}"``.
        figsize: figure size in inches.
        margins: ``Figure.subplots_adjust`` arguments for every frame (default: room for tick
            labels and a title per panel). Fixed margins keep the frames aligned as the slider
            moves, and are much cheaper to draw than matplotlib's constrained layout (one
            drawing pass instead of two).
        constrained: use constrained layout instead of fixed margins (slower, automatic).
        dpi: resolution of the frames; with ``figsize`` it sets the page weight.
        colors: palette size for the frames (``None``: full colour PNG).

    Example:
        >>> import numpy as np
        >>> def draw(fig, freq):
        ...     ax = fig.subplots()
        ...     x = np.linspace(0, 1, 200)
        ...     ax.plot(x, np.sin(2 * np.pi * freq * x))
        >>> ex = Explorer(draw, {"freq": [1, 2, 3]})
        >>> len(ex.frames())
        3

    Displaying ``ex`` as the last expression of a cell shows it.
    """

    def __init__(
        self,
        draw: Callable[..., Any],
        controls: Mapping[str, Iterable[Any]],
        *,
        initial: Mapping[str, Any] | None = None,
        labels: Mapping[str, str] | None = None,
        fmt: str = "{:.3g}",
        figsize: tuple[float, float] = (8.0, 3.4),
        margins: Mapping[str, float] | None = None,
        constrained: bool = False,
        dpi: float = 72,
        colors: int | None = 128,
    ) -> None:
        if not callable(draw):
            raise ValueError(f"draw must be a callable draw(fig, **values), got {draw!r}")
        if not isinstance(controls, Mapping) or not controls:
            raise ValueError("controls must be a non-empty mapping name -> sequence of values")
        self.controls: dict[str, list[Any]] = {}
        for name, values in controls.items():
            if isinstance(values, (str, bytes)):
                raise ValueError(f"controls[{name!r}] must be a sequence of values, not a string")
            try:
                values = list(values)
            except TypeError:
                raise ValueError(f"controls[{name!r}] must be a sequence of values") from None
            if len(values) < 2:
                raise ValueError(f"controls[{name!r}] needs at least 2 values, got {len(values)}")
            self.controls[name] = values
        n = 1
        for values in self.controls.values():
            n *= len(values)
        if n > MAX_FRAMES:
            raise ValueError(
                f"controls give {n} combinations; at most {MAX_FRAMES} can be pre-rendered "
                "for the website (use fewer values)"
            )
        self.initial: dict[str, Any] = {}
        for name, values in self.controls.items():
            if initial is not None and name in initial:
                if initial[name] not in values:
                    raise ValueError(f"initial[{name!r}]={initial[name]!r} is not one of {values}")
                self.initial[name] = initial[name]
            else:
                self.initial[name] = values[(len(values) - 1) // 2]
        unknown = set(initial or {}) - set(self.controls)
        if unknown:
            raise ValueError(f"initial names unknown controls: {sorted(unknown)}")
        self.labels = {name: (labels or {}).get(name, name) for name in self.controls}
        self.fmt = fmt
        self.draw = draw
        self.figsize = figsize
        self.margins = None if constrained else dict(_DEFAULT_MARGINS if margins is None else margins)
        self.dpi = dpi
        self.colors = colors
        self._cache: dict[tuple[int, ...], bytes] = {}
        self._prerender: threading.Thread | None = None
        self._lock = threading.Lock()
        self._uid = uuid.uuid4().hex[:10]

    # -- computing frames ---------------------------------------------------------------------

    def _key(self, values: Mapping[str, Any]) -> tuple[int, ...]:
        return tuple(self.controls[n].index(values[n]) for n in self.controls)

    def _complete(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` with missing controls at their initial value; each checked against its slider."""
        full = {**self.initial, **values}
        for name, v in full.items():
            if name not in self.controls:
                raise ValueError(f"unknown control {name!r}; controls are {list(self.controls)}")
            if v not in self.controls[name]:
                raise ValueError(f"{name}={v!r} is not one of the slider values {self.controls[name]}")
        return full

    def figure(self, **values: Any) -> Figure:
        """Draw the frame for ``values`` (missing ones take their initial value) on a new figure.

        The figure is not attached to pyplot, so it is never shown twice or leaked.
        """
        from matplotlib.figure import Figure

        if self.margins:
            fig = Figure(figsize=self.figsize)
            fig.subplots_adjust(**self.margins)
        else:
            fig = Figure(figsize=self.figsize, layout="constrained")
        self.draw(fig, **self._complete(values))
        return fig

    def render(self, *, compact: bool = True, **values: Any) -> bytes:
        """The PNG of one frame (cached: each combination is drawn at most once).

        ``compact`` shrinks the PNG to a palette of ``colors`` (for the page's weight); the live
        widget skips that step, which costs about a tenth of a frame's time.
        """
        key = self._key(self._complete(values))
        with self._lock:  # one frame at a time: the live widget may draw in the background
            if key not in self._cache:
                colors = self.colors if compact else None
                self._cache[key] = _png_bytes(self.figure(**values), self.dpi, colors)
            return self._cache[key]

    def frames(self) -> dict[tuple[int, ...], bytes]:
        """Every frame, keyed by the slider positions (one index per control)."""
        names = list(self.controls)
        for combo in itertools.product(*self.controls.values()):
            self.render(**dict(zip(names, combo, strict=True)))
        return dict(self._cache)

    # -- the two representations ---------------------------------------------------------------

    def _label(self, value: Any) -> str:
        try:
            return self.fmt.format(value)
        except (ValueError, TypeError):
            return str(value)

    def fallback_html(self) -> str:
        """Self-contained HTML: the frames as images and one ``<input type=range>`` per control."""
        frames = self.frames()
        start = self._key(self.initial)
        # The handler is inline so the page needs no separate script: it reads every slider of
        # this explorer, joins their positions into a key, and shows the frame with that key.
        handler = (
            "var r=this.closest('.dlopt-explorer');"
            "var k=Array.prototype.map.call(r.querySelectorAll('input[type=range]'),"
            "function(i){return i.value}).join('_');"
            "r.querySelectorAll('img.dlx-frame').forEach(function(m){"
            "m.style.display=(m.getAttribute('data-key')===k)?'block':'none'});"
            "this.nextElementSibling.textContent=JSON.parse(this.getAttribute('data-labels'))"
            "[this.value];"
        )
        rows = []
        for (name, values), pos in zip(self.controls.items(), start, strict=True):
            vlabels = [self._label(v) for v in values]
            rows.append(
                '<label style="display:flex;align-items:center;gap:0.6em;margin:0.2em 0">'
                f'<span style="min-width:7em">{html.escape(self.labels[name])}</span>'
                f'<input type="range" min="0" max="{len(values) - 1}" step="1" value="{pos}" '
                f'data-control="{html.escape(name)}" aria-label="{html.escape(self.labels[name])}" '
                f'data-labels="{html.escape(json.dumps(vlabels))}" '
                f'oninput="{html.escape(handler)}" style="flex:1;max-width:22em">'
                f'<output style="min-width:4em;font-family:monospace">{html.escape(vlabels[pos])}'
                "</output></label>"
            )
        imgs = []
        for key, png in frames.items():
            k = "_".join(map(str, key))
            shown = "block" if key == start else "none"
            b64 = base64.b64encode(png).decode("ascii")
            imgs.append(
                f'<img class="dlx-frame" data-key="{k}" alt="explorer frame {k}" '
                f'style="display:{shown};max-width:100%;height:auto" '
                f'src="data:image/png;base64,{b64}">'
            )
        return (
            f'<div class="dlopt-explorer" id="dlx-{self._uid}" '
            'style="border:1px solid rgba(127,127,127,0.35);border-radius:6px;padding:0.5em;'
            'background:#fff;color:#222">'
            + "".join(rows)
            + "".join(imgs)
            + '<div style="font-size:0.8em;opacity:0.7">Pre-rendered frames; '
            "run the notebook for the live version.</div></div>"
        )

    def widget(self) -> Any:
        """The live ipywidgets control (requires ``ipywidgets``; 7.7 or 8.x)."""
        import ipywidgets as widgets

        image = widgets.Image(value=self.render(compact=False), format="png")
        sliders = {}
        for name, values in self.controls.items():
            sliders[name] = widgets.SelectionSlider(
                options=[(self._label(v), v) for v in values],
                value=self.initial[name],
                description=self.labels[name],
                continuous_update=True,
                style={"description_width": "initial"},
                layout=widgets.Layout(width="420px"),
            )

        def update(change: Any) -> None:
            image.value = self.render(compact=False, **{n: s.value for n, s in sliders.items()})

        for s in sliders.values():
            s.observe(update, names="value")
        self._prerender_in_background()
        return widgets.VBox([*sliders.values(), image])

    def _prerender_in_background(self) -> None:
        """Draw the frames not drawn yet on a daemon thread, so later slider moves are instant.

        Each frame is its own ``Figure`` (no pyplot state is shared); a frame the reader asks for
        before the thread reaches it is simply drawn on demand, and the cache keeps one copy.
        """
        if self._prerender is not None and self._prerender.is_alive():
            return
        names = list(self.controls)

        def work() -> None:
            for combo in itertools.product(*self.controls.values()):
                try:
                    self.render(compact=False, **dict(zip(names, combo, strict=True)))
                except Exception:  # the live path reports errors when the reader gets there
                    return

        self._prerender = threading.Thread(target=work, name="explorer-prerender", daemon=True)
        self._prerender.start()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        bundle: dict[str, Any] = {"text/plain": repr(self)}
        if not _in_colab():
            bundle["text/html"] = self.fallback_html()  # draws every frame, before the widget
        try:
            w = self.widget()
        except ImportError:
            w = None
        if w is not None:
            bundle["application/vnd.jupyter.widget-view+json"] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": w.model_id,
            }
            self._live = w  # keep the widget alive while its view is on screen
        elif "text/html" not in bundle:
            bundle["text/html"] = self.fallback_html()
        return bundle

    def __repr__(self) -> str:
        sliders = ", ".join(f"{n}: {len(v)} values" for n, v in self.controls.items())
        return f"<Explorer ({sliders})>"
