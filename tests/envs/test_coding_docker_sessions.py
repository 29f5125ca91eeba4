"""Sessions of one vector env in one coding container do not meet (issue 18).

The attack: ``make_vec("openenv/coding-v0", num_envs=2, provider="docker")``, and sub-env 1 tries
to read, change, list and signal what sub-env 0 made. Each sub-env's worker runs in bubblewrap
(own PID, IPC, network and mount namespaces; own ``/tmp``, ``/var/tmp``, ``/dev/shm``, ``/proc``)
as a user id of its own, in a control group of its own; the container got only the capabilities
that takes (``openenv_gym.providers.containers.sandboxing``), none of which the code holds.
"""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import openenv_gym  # noqa: F401  (registers the ids)
from openenv_gym.providers.containers.engine import owner_label
from openenv_gym.providers.containers.sandboxing import BWRAP_CAPABILITIES
from tests.envs.test_coding_isolation import FORK_AND_TOUCH
from tests.support.docker import engine

pytestmark = pytest.mark.timeout(300)
PLACES = ("/tmp/x", "/var/tmp/x", "/dev/shm/x")  # /tmp is also the working directory
SHM_KEY = 0x18
SYSV = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(libc.shmget({SHM_KEY}, 4096, {{flags}}))
"""
MAKE = f"""
import subprocess, sys, os
for place in {PLACES!r}:
    with open(place, 'w') as file:
        file.write('FROM-0')
    os.chmod(place, 0o666)
sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', 'MARKER-0'])
{SYSV.format(flags="0o1666")}
"""
LOOK = f"""
import os, json
found = {{}}
for place in {PLACES!r}:
    try:
        found[place] = open(place).read()
    except OSError as exc:
        found[place] = type(exc).__name__
pids = [p for p in os.listdir('/proc') if p.isdigit()]
found['cmdlines'] = [open(f'/proc/{{p}}/cmdline', 'rb').read().decode(errors='replace') for p in pids]
found['listed'] = {{d: os.listdir(d) for d in ('/tmp', '/var/tmp', '/dev/shm')}}
found['uid'] = os.getuid()
print(json.dumps(found))
"""
FORK_TEN = """
import os, time
pids = []
for _ in range(10):
    pid = os.fork()
    if pid == 0:
        time.sleep(1)
        os._exit(0)
    pids.append(pid)
print('forked', sum(os.waitpid(pid, 0)[1] == 0 for pid in pids))
"""


def containers() -> list[str]:
    return [c.id for c in engine().containers.list(all=True, filters={
        "label": [f"openenv-gym.owner={owner_label()}", "openenv-gym.env=coding"]})]


@pytest.fixture(scope="module")
def envs(docker_image):
    before = set(containers())
    vector = gym.make_vec("openenv/coding-v0", num_envs=2, provider="docker", timeout_s=10, memory_mb=256,
                          max_processes=32, provider_options={"image": docker_image("coding"), "memory": "1g"})
    _, info = vector.reset(seed=0)
    assert list(info["sandbox"]["mode"]) == ["bwrap", "bwrap"], info["sandbox"]
    vector.mine = set(containers()) - before
    yield vector
    vector.close()


def step(envs, code0: str, code1: str):
    obs, *_ = envs.step([code0, code1])
    return obs


def test_the_sessions_share_one_container_locked_down(envs):
    assert len(envs.mine) == 1  # the attack needs them in one container
    host = engine().containers.get(next(iter(envs.mine))).attrs["HostConfig"]
    assert (host["ReadonlyRootfs"], host["CapDrop"], sorted(host["CapAdd"])) == (
        True, ["ALL"], sorted(BWRAP_CAPABILITIES))
    assert host["SecurityOpt"][0] == "no-new-privileges"
    assert host["CgroupnsMode"] == "private"


def test_the_code_runs_as_distinct_users_without_capabilities_or_user_namespaces(envs):
    code = ("import os, ctypes; libc = ctypes.CDLL(None, use_errno=True)\n"
            "cap = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]\n"
            "print(os.getuid(), cap, libc.unshare(0x10000000), ctypes.get_errno())")
    obs = step(envs, code, code)
    users = [line.split() for line in obs["stdout"]]
    assert users[0][0] != users[1][0]
    for uid, capabilities, unshared, error in users:
        assert int(uid) not in (0, 10001) and int(capabilities, 16) == 0
        assert (unshared, error) == ("-1", "1")  # EPERM: no user namespace to gain capabilities in


def test_one_session_cannot_read_change_list_or_signal_anothers(envs):
    made = step(envs, MAKE, "print('idle')")
    assert made["exit_code"][0] == 0, made["stderr"][0]
    obs = step(envs, "print('idle')", LOOK + SYSV.format(flags="0"))
    assert obs["exit_code"][1] == 0, obs["stderr"][1]
    lines = obs["stdout"][1].splitlines()
    found = json.loads(lines[0])
    assert {place: found[place] for place in PLACES} == dict.fromkeys(PLACES, "FileNotFoundError")
    assert found["listed"] == {"/tmp": [], "/var/tmp": [], "/dev/shm": []}
    assert not any("MARKER-0" in cmdline for cmdline in found["cmdlines"])
    assert len(found["cmdlines"]) <= 3  # its own: bwrap's init, its worker (and this step's reader)
    assert lines[1] == "-1"  # the SysV segment of sub-env 0 is not in its IPC namespace
    step(envs, "print('idle')", "".join(f"open({p!r}, 'w').write('FROM-1')\n" for p in PLACES))
    step(envs, "print('idle')", "import os, signal\nos.kill(-1, signal.SIGKILL)")  # all it may signal
    obs = step(envs, f"print([open(p).read() for p in {PLACES!r}], sleeper.poll())", "print('idle')")
    assert obs["stdout"][0] == "['FROM-0', 'FROM-0', 'FROM-0'] None\n", obs["stderr"][0]


def test_limits_hold_per_session(envs):
    obs = step(envs, FORK_AND_TOUCH, "block = bytearray(200 * 2 ** 20); block[::4096] = b'x' * "
                                     "len(block[::4096]); print('held 1')")
    assert obs["exit_code"][1] == 0 and obs["stdout"][1] == "held 1\n"  # the neighbour has its own 256 MB
    if obs["exit_code"][0] == 0:  # 256 MB for sub-env 0's tree: the kernel killed children ...
        assert int(obs["stdout"][0].split()[1]) <= 1
    else:  # ... or the REPL itself
        assert obs["exit_code"][0] == 137, obs["stderr"][0]
    obs = step(envs, "import os\nwhile True: os.fork()", FORK_TEN)
    assert "BlockingIOError" in obs["stderr"][0]  # 32 processes for sub-env 0's tree
    assert obs["stdout"][1] == "forked 10\n"  # not for its neighbour's


def test_closing_the_vector_env_leaves_no_container(docker_image):
    before = set(containers())
    vector = gym.make_vec("openenv/coding-v0", num_envs=2, provider="docker",
                          provider_options={"image": docker_image("coding")})
    vector.reset(seed=0)
    vector.step(["import subprocess; subprocess.Popen(['sleep', '600'])", "print(1)"])
    assert set(containers()) - before
    vector.close()
    assert set(containers()) == before
