"""``python -m accelsim`` is the ``accelsim`` command."""

from accelsim._entry import run

run()
