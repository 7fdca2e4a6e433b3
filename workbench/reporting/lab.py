"""JupyterLab settings for a source checkout (`make lab` loads `.jupyter/jupyter_server_config.py`).

The notebook templates in `notebooks/` (`01_data_prep.ipynb` ... and their jupytext `.py`
sources) are what `workbench run` executes, so they must stay free of outputs: an analyst who
runs them in JupyterLab sees the outputs in the browser, but a save writes the cells only.
Notebooks anywhere else (a run folder's executed copies, scratch notebooks) save as usual.
"""

from __future__ import annotations

import re
from typing import Any

TEMPLATE = re.compile(r"(^|/)notebooks/[0-9][0-9]_[^/]*\.ipynb$")


def is_template(path: str) -> bool:
    """`notebooks/01_data_prep.ipynb` (relative to the server root) is a tracked template."""
    return bool(TEMPLATE.search(path.replace("\\", "/")))


def strip_template_outputs(model: dict[str, Any], path: str, **_: Any) -> None:
    """A Jupyter `pre_save_hook`: clear outputs and execution counts of template notebooks."""
    if model.get("type") != "notebook" or not is_template(path):
        return
    for cell in model.get("content", {}).get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None


def configure(c) -> None:
    """Apply the project's Jupyter server settings to the config object `c`."""
    c.ContentsManager.pre_save_hook = strip_template_outputs
