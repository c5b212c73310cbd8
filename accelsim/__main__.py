"""``python -m accelsim`` is the ``accelsim`` command."""

from accelsim._entry import run

if __name__ == "__main__":  # not when a spawned worker process re-imports the main module
    run()
