# Loaded by `make lab` (JUPYTER_CONFIG_PATH): notebook templates in notebooks/ are saved without
# outputs, so what `workbench run` executes never carries an earlier session's results.
from workbench.reporting.lab import configure

configure(c)  # noqa: F821 - `c` is the config object Jupyter provides
