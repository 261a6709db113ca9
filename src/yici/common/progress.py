"""Progress bars for long `yici` commands (tqdm on stderr; silent when asked or not a terminal)."""

import sys

from tqdm import tqdm


class ProgressBar:
    """A callable ``progress(done, total)`` that drives one tqdm bar per label."""

    def __init__(self, label: str, *, enabled: bool | None = None):
        self.label = label
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = tqdm(total=total, desc=self.label, unit="row", file=sys.stderr, leave=False)
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def staged(self, stage: str, done: int, total: int) -> None:
        """For work in stages: a new bar whenever the stage changes."""
        if stage != self.label:
            self.close()
            self.label = stage
        self(done, total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
