"""The coding environment (``openenv/coding-v0``): Python code in, stdout/stderr/exit code out.

>>> from openenv_gym.envs.coding import CodingAction, CodingEnvironment
>>> env = CodingEnvironment()
>>> _ = env.reset()
>>> env.step(CodingAction(code="print('hi')")).stdout
'hi\\n'
>>> env.close()
"""

from .environment import CodingEnvironment
from .execution import Execution
from .limits import SandboxLimits
from .models import CodingAction, CodingObservation, CodingState
from .sandbox import Sandbox
from .tasks import TASKS, Task

__all__ = ["TASKS", "CodingAction", "CodingEnvironment", "CodingObservation", "CodingState", "Execution",
           "Sandbox", "SandboxLimits", "Task"]
