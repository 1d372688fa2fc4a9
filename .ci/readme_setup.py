"""Print the README's Debian setup lines, as .ci/run runs them.

The README marks its Debian block with an HTML comment (``<!-- setup: debian ...``); this
prints the lines of the fenced block that follows, without ``sudo `` when run as root (as
the README tells root to type them), wherever it stands in a line. CI runs exactly these
lines, so the README cannot lack a step that CI needs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
MARKER = "<!-- setup: debian"


def setup_lines(readme: str, *, as_root: bool) -> list[str]:
    after_marker = readme.split(MARKER, 1)[1]
    block = after_marker.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.strip() for line in block.splitlines() if line.strip()]
    return [line.replace("sudo ", "") if as_root else line for line in lines]


if __name__ == "__main__":
    try:
        print("\n".join(setup_lines(README.read_text(), as_root=os.geteuid() == 0)))
    except IndexError:
        sys.exit(f"{README} has no block marked {MARKER!r} followed by a ```bash block")
