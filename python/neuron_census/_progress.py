"""The progress of a stage called from Python: the command's bars, drawn where the user looks.

A terminal bar cannot be drawn in a notebook, so the native module hands the bars over (see
`_native.run_command`) and this draws them: with tqdm where it is installed (`tqdm.auto`: a
widget in Jupyter, a text bar elsewhere), else as a line per bar on `sys.stderr` every few
seconds and at its end.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Optional, Union

#: One bar as the native module reports it:
#: `(id, label, unit, position, length, message, finished)`.
Bar = tuple[int, str, str, int, int, str, bool]
#: What the stages take as `progress`: True for the default display, False for none, or a
#: function called with the list of bars every tenth of a second and once at the end.
ProgressOption = Union[bool, Callable[[list[Bar]], Any]]


class Display:
    """Draws the bars it is called with: tqdm's where tqdm is installed, else text lines."""

    def __init__(self, every: float = 2.0) -> None:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self._tqdm = tqdm
        self._every = every
        self._open: dict[int, Any] = {}
        self._printed: dict[int, float] = {}

    def __call__(self, bars: list[Bar]) -> None:
        for bar in bars:
            if self._tqdm is not None:
                self._draw(bar)
            else:
                self._print(bar)

    def _draw(self, bar: Bar) -> None:
        key, label, unit, position, length, message, finished = bar
        shown = self._open.get(key)
        if shown is None:
            shown = self._open[key] = self._tqdm(
                total=length, desc=label, unit=f" {unit}", unit_scale=True, dynamic_ncols=True
            )
        if shown.total != length:
            shown.total = length
        shown.update(position - shown.n)
        if message:
            shown.set_postfix_str(message, refresh=False)
        if finished:
            shown.close()
            del self._open[key]

    def _print(self, bar: Bar) -> None:
        key, label, unit, position, length, message, finished = bar
        now = time.monotonic()
        if not finished and now - self._printed.get(key, -self._every) < self._every:
            return
        self._printed[key] = now
        share = f" ({100 * position / length:.0f}%)" if length else ""
        note = f" · {message}" if message else ""
        print(f"{label}: {position:,}/{length:,} {unit}{share}{note}", file=sys.stderr, flush=True)
        if finished:
            del self._printed[key]


def callback(progress: ProgressOption) -> Optional[Callable[[list[Bar]], Any]]:
    """The function the native module calls with the bars, for a stage's `progress` option."""
    if progress is True:
        return Display()
    if progress is False or progress is None:
        return None
    if callable(progress):
        return progress
    raise TypeError(f"progress: True, False or a function of the bars, not {progress!r}")
