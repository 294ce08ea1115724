"""The gallery's order: the reading order that ``examples/GALLERY_HEADER.rst`` lists.

sphinx-gallery sorts the examples of a folder with ``within_subsection_order``; this
key puts first, in their order, the examples the folder's header links to
(``:ref:`sphx_glr_auto_examples_plot_x.py```), then any other example by file name.
So the thumbnails, the sidebar and the previous / next links follow the reading order
that the gallery's index page states, and a new example needs no change here.
"""
import re
from pathlib import Path

LINK = re.compile(r"sphx_glr_\w+?_(plot_\w+\.py)")


class ReadingOrder:
    """``sorted(files, key=ReadingOrder(src_dir))``: listed examples first, then by name."""

    def __init__(self, src_dir):
        self.src_dir = Path(src_dir)
        header = self.src_dir / "GALLERY_HEADER.rst"
        text = header.read_text(encoding="utf-8") if header.exists() else ""
        self.order = {}
        for name in LINK.findall(text):
            self.order.setdefault(name, len(self.order))

    def __call__(self, filename):
        name = Path(filename).name
        return (0, self.order[name], name) if name in self.order else (1, 0, name)

    def __repr__(self):
        return f"ReadingOrder({str(self.src_dir)!r})"
