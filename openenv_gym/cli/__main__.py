"""``python -m openenv_gym.cli``: the ``openenv-gym`` command."""

import sys

from . import main

sys.exit(main())
