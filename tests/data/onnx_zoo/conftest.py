# The build_*.py scripts need PyTorch and run in their own venvs (see the README.*.md files here); the test
# suite never imports them (pytest runs with --doctest-modules, which would otherwise import every .py file).
collect_ignore_glob = ["build_*.py"]
