"""Charts. Every function takes `ax=None`, draws on it (or a new figure) and returns the Axes."""

from workbench.plots.data import *  # noqa: F401,F403
from workbench.plots.decisions import *  # noqa: F401,F403
from workbench.plots.insight import *  # noqa: F401,F403
from workbench.plots.models import *  # noqa: F401,F403
from workbench.plots.monitoring import *  # noqa: F401,F403
from workbench.plots.scores import *  # noqa: F401,F403
