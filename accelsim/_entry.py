"""The ``accelsim`` console script. It imports nothing at module level, so that a Ctrl-C that
arrives while the CLI is still being imported is one line too, not a traceback."""


def run() -> None:
    import signal
    import sys

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM unwinds like Ctrl-C
    try:
        from .cli import run as run_cli
    except KeyboardInterrupt:
        print("accelsim: error: interrupted", file=sys.stderr)
        sys.exit(130)
    run_cli()
