"""Figures as files: matplotlib without a display, written atomically, its layout warnings kept quiet."""

from __future__ import annotations

from pathlib import Path

from zoo.io import write_atomic


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: Path) -> None:
    """Lay out, write as PNG (atomically) and close a figure. matplotlib's warnings about the layout (labels
    too long to fit) or glyphs missing from its font (class names in other scripts) are about the picture
    only: they are not printed among the zoo's messages."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout()
        write_atomic(path, lambda f: fig.savefig(f, format="png", dpi=100))
    pyplot().close(fig)
