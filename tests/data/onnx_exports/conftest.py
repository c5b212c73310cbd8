# build.py needs PyTorch and runs in its own venv (see README.md here); the test suite never imports it
# (pytest runs with --doctest-modules, which would otherwise import every .py file under tests/).
collect_ignore = ["build.py"]
