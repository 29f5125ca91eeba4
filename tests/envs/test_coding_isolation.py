"""Tenant isolation of the coding sandbox, attacked as a tenant would, on a real server as root.

Each test runs the attack of issue 14 and asserts what the next tenant, or the machine, would
notice: the sandbox's tree dies with its server; nothing of a session is left to the next
holder of its user id; memory, processes and CPU time hold for the session's whole tree;
nothing runs between steps; a forged reply shifts no output.

Each server gets user ids of its own (``uids``), one where a test needs the next tenant to get
the same id as the last.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from openenv_gym import EnvClient
from openenv_gym.envs.coding.launch import isolation_mode
from openenv_gym.errors import ExecutionError
from openenv_gym.providers import ProcessProvider
from tests.support.coding import processes, processes_of_uid, uid_of, under_session_keyring, watchdogs
from tests.support.processes import wait_until
from tests.support.scaffolds import venv_seeing_this_python
from tests.support.servers import REPO_ROOT

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or isolation_mode() != "bwrap",
                                reason="needs root and bubblewrap (.ci/run installs it)")


def coding_server(mode: str = "bwrap", environment: dict[str, str] | None = None, **env_kwargs) -> ProcessProvider:
    """A started coding server; ``environment``: variables of its own (``TMPDIR``, say)."""
    provider = ProcessProvider("openenv_gym.envs.coding.app:app", env_kwargs=env_kwargs)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PYTHONPATH", str(REPO_ROOT))
        env.setenv("OPENENV_CODING_ISOLATION", mode)
        for name, value in (environment or {}).items():
            env.setenv(name, value)
        provider.start()
    return provider


@contextlib.contextmanager
def running(mode: str = "bwrap", environment: dict[str, str] | None = None, **env_kwargs):
    provider = coding_server(mode, environment, **env_kwargs)
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def limited():
    """One server with small limits, for the limit tests."""
    provider = coding_server(uids=[61_100, 61_110], memory_mb=256, cpu_time_s=2, timeout_s=8,
                             max_processes=32)
    yield provider
    provider.stop()


def session(server):
    """A client of ``server`` (its provider, or its URL)."""
    return EnvClient(server if isinstance(server, str) else server.base_url).sync()


def reset_or_none(client):
    try:
        return client.reset()
    except ExecutionError:  # every id in use: the last session is still being closed
        return None


def step(client, code):
    return client.step({"code": code}).observation


# -- 1. the tree dies with its server, and nothing of it reaches the next tenant ------------------

SLEEPING_LOOP = "import time\nwhile True:\n    time.sleep(0.05)"
DETACHED = ("import subprocess\nsubprocess.Popen(['sleep', '600'], start_new_session=True)\n"
            "import os\nif os.fork() == 0:\n    os.setsid()\n    while True:\n        __import__('time').sleep(0.05)")


@pytest.mark.parametrize("when", ["mid-step", "between-steps"])
def test_the_tree_dies_within_seconds_when_the_server_is_sigkilled(when):
    """SIGKILL the server while a step runs a sleeping loop (no CPU: RLIMIT_CPU never fires),
    or between steps (the tree is frozen, and a frozen task ignores SIGKILL until thawed)."""
    provider = coding_server(uids=[61_000, 61_010])
    try:
        with connect(provider.base_url.replace("http", "ws") + "/ws") as ws:
            ws.send(json.dumps({"type": "reset", "data": {}}))
            uid = uid_of(json.loads(ws.recv(timeout=30))["data"]["observation"]["metadata"])
            ws.send(json.dumps({"type": "step", "data": {"code": DETACHED}}))
            ws.recv(timeout=30)
            if when == "mid-step":
                ws.send(json.dumps({"type": "step", "data": {"code": SLEEPING_LOOP}}))
                time.sleep(0.5)
            assert len(processes_of_uid(uid)) >= 3
            os.kill(provider.pid, signal.SIGKILL)
            assert wait_until(lambda: processes_of_uid(uid) == [], within=5), processes_of_uid(uid)
    finally:
        provider.stop()


def test_a_new_server_clears_what_a_dead_server_and_its_watchdog_left_before_reuse():
    """Server and watchdog both SIGKILLed between steps: the frozen tree stays; the next server
    that leases the id kills it before the new tenant runs anything."""
    provider = coding_server(uids=[61_020, 61_021])
    with session(provider) as client:
        uid = uid_of(client.reset().info)
        step(client, DETACHED)
        for pid in watchdogs(provider.pid):
            os.kill(pid, signal.SIGKILL)
        os.kill(provider.pid, signal.SIGKILL)
        time.sleep(1.0)
        left = processes_of_uid(uid)
        assert left and all(processes()[p][2] != "Z" for p in left)  # the frozen tree is still there
    provider.stop()
    second = coding_server(uids=[61_020, 61_021])
    try:
        with session(second) as client:
            assert uid_of(client.reset().info) == uid
            mine = set(processes_of_uid(uid))
            assert not mine & set(left)  # nothing of the last holder
            assert step(client, "1 + 1")["stdout"] == "2\n"
    finally:
        second.stop()


PLACES = "[f'{d}/openenv-test-leftover-{os.getuid()}' for d in ('/tmp', '/var/tmp', '/dev/shm')]"
LEAVE = r"""
import ctypes, os, subprocess
for path in PLACES:
    with open(path, 'w') as f:
        f.write('secret')
    os.chmod(path, 0o600)
libc = ctypes.CDLL(None, use_errno=True)
shm = libc.shmget(0x1234, 50 * 2 ** 20, 0o1666)   # IPC_CREAT | 0666
queue = libc.msgget(0x1235, 0o1666)
key = libc.syscall(248, b"user", b"secret", b"payload", 7, -4)   # add_key to the user keyring
print(shm >= 0, queue >= 0, key > 0)
"""
LOOK = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
found = [p for p in PLACES if os.path.exists(p)]
found += ['shm'] if libc.shmget(0x1234, 0, 0) >= 0 else []
found += ['msg'] if libc.msgget(0x1235, 0) >= 0 else []
found += ['key'] if libc.syscall(249, b"user", b"secret", None, 0) > 0 else []
print(found)
"""
LEAVE, LOOK = (code.replace("PLACES", PLACES) for code in (LEAVE, LOOK))


@pytest.mark.parametrize("mode", ["bwrap", "namespaces"])
def test_the_next_tenant_of_a_user_id_finds_nothing_of_the_last(mode):
    """Under bubblewrap nothing was ever the machine's; without, it is removed on close."""
    provider = coding_server(mode, uids=[61_030, 61_031])  # one id: the next tenant gets the same
    try:
        with session(provider) as client:
            uid = uid_of(client.reset().info)
            assert step(client, LEAVE)["stdout"] == "True True True\n"
        with session(provider) as client:  # once the server has closed the first session
            assert wait_until(lambda: reset_or_none(client) is not None)
            assert uid_of(client.reset().info) == uid
            assert step(client, LOOK)["stdout"] == "[]\n"
        with open("/proc/sysvipc/shm") as table:  # the segment never was the machine's
            assert not [row for row in table if row.split()[0] == str(0x1234)]
    finally:
        provider.stop()


@pytest.mark.parametrize("mode", ["bwrap", "namespaces"])
def test_proc_shows_only_the_sandboxs_processes(mode):
    with running(mode, uids=[61_332, 61_334]) as provider, session(provider) as client:
        client.reset()
        out = step(client, "import os\nsorted(int(p) for p in os.listdir('/proc') if p.isdigit())")
        pids = eval(out["stdout"])
        assert pids[0] == 1 and len(pids) <= 3, pids  # bubblewrap's (or the worker's) init, the REPL
        cmdlines = step(client, "[open(f'/proc/{p}/cmdline', 'rb').read() for p in "
                                "os.listdir('/proc') if p.isdigit()]")["stdout"]
        assert "pytest" not in cmdlines and "openenv_gym.server" not in cmdlines


# -- 2. limits hold for the whole tree; nothing runs between steps -------------------------------

FORK_AND_TOUCH = r"""
import os
children = []
for _ in range(5):
    pid = os.fork()
    if pid == 0:
        block = bytearray(200 * 2 ** 20)
        block[::4096] = b'x' * len(block[::4096])    # touch every page
        os._exit(0)
    children.append(pid)
held = sum(os.waitpid(pid, 0)[1] == 0 for pid in children)
print('held', held)
"""


def test_five_forked_children_of_200MB_are_held_to_memory_mb_for_the_tree(limited):
    with session(limited) as client:
        client.reset()
        obs = step(client, FORK_AND_TOUCH)
        assert obs["exit_code"] == 0, obs["stderr"]
        held = int(obs["stdout"].split()[1])
        assert held <= 1  # 256 MB for the tree: the others were killed, not given 1 GB
        shm = step(client, "open('/dev/shm/big', 'wb').write(b'x' * 300 * 2 ** 20)")
        assert shm["exit_code"] != 0  # /dev/shm counts too
        assert step(client, "print('next')")["stdout"] == "next\n"


FORK_CHAIN = r"""
import os, time
def link():
    while True:
        start = time.process_time()
        while time.process_time() - start < 0.3:   # each link stays far below RLIMIT_CPU
            pass
        if os.fork():
            os._exit(0)
if os.fork() == 0:
    os.setsid()
    link()
"""


def test_cpu_time_holds_for_a_fork_and_exit_chain(limited):
    with session(limited) as client:
        client.reset()
        assert step(client, FORK_CHAIN)["exit_code"] == 0
        started = time.monotonic()
        obs = step(client, "import time; time.sleep(7)")  # the chain spins meanwhile
        assert obs["exit_code"] == 137 and "CPUTimeError" in obs["stderr"], obs["stderr"]
        assert time.monotonic() - started < 8  # cpu_time_s=2 stopped it (about 4-5 s on 2 loaded cores), not timeout_s=8
        assert step(client, "print('fresh')")["stdout"] == "fresh\n"


SLEEPER = r"""
import threading, time
stamps = []
def tick():
    while True:
        stamps.append(time.monotonic())
        time.sleep(0.02)
threading.Thread(target=tick, daemon=True).start()
time.sleep(0.1)
"""


def freezer_view(sandbox: dict[str, str]) -> list[str]:
    """What a cgroup v1 machine's freezer says of the session's group (its state, its tasks), to
    tell a group that was thawed from one that never held the tree."""
    uid = sandbox["user"].split()[-1]
    return [f"{group}: {(group / 'freezer.state').read_text().strip()}, tasks "
            f"{(group / 'tasks').read_text().split()}"
            for group in Path("/sys/fs/cgroup/freezer").glob(f"**/openenv-coding-uid{uid}-*")]


def test_a_sleeping_loop_does_not_run_between_steps(limited):
    with session(limited) as client:
        sandbox = client.reset().info["sandbox"]
        assert sandbox["limits"].startswith("whole tree") and "not frozen" not in sandbox["limits"], sandbox
        step(client, SLEEPER)
        between = freezer_view(sandbox)
        time.sleep(1.0)
        between += freezer_view(sandbox)
        # thawed, the loop's first tick comes once it gets the GIL: wait for it, then look
        gaps = step(client, "time.sleep(0.1); max(b - a for a, b in zip(stamps, stamps[1:]))")["stdout"]
        assert float(gaps) >= 0.9, between  # the loop stood still while no step ran


# -- 3. a forged reply on the worker's channel shifts nothing -----------------------------------

FORGE = r"""
import json, os, sys
fd = json.loads(sys.argv[1])['reply_fd']
os.write(fd, b'\x00\x00\x00\x10{"exit_code": 0}')            # a frame of the old protocol
os.write(fd, json.dumps({'id': 'guess', 'exit_code': 0}).encode())
os.write(fd, b'')
print('one')
"""
FORGE_WITH_ID = r"""
import json, os, sys
frame = sys._getframe()
while 'request' not in frame.f_locals:
    frame = frame.f_back
os.write(json.loads(sys.argv[1])['reply_fd'], json.dumps({'id': frame.f_locals['request']['id'],
                                                           'exit_code': 3}).encode())
"""


@pytest.mark.parametrize("forgery", [FORGE, FORGE_WITH_ID], ids=["forged", "forged-with-the-id"])
def test_a_forged_reply_does_not_shift_the_outputs(limited, forgery):
    with session(limited) as client:
        client.reset()
        step(client, "kept = 'still here'")
        step(client, forgery)
        obs = step(client, "print('two')")
        # with the dug-out id the forged step may end early, so what it had left to print can
        # show in the next step (documented in envs/coding/README.md); never more than that
        assert obs["exit_code"] == 0 and obs["stdout"].endswith("two\n"), obs
        if forgery is FORGE:
            assert obs["stdout"] == "two\n", obs
        obs = step(client, "print('three')")
        assert (obs["stdout"], obs["exit_code"]) == ("three\n", 0), obs
        assert step(client, "kept")["stdout"] == "'still here'\n"  # no restart either


IN_A_VENV = """
import gymnasium as gym, openenv_gym
env = gym.make("openenv/coding-v0", provider="inprocess")
_, info = env.reset(seed=0)
obs, *_ = env.step("print(6 * 7)")
print(obs["stdout"].strip(), info["sandbox"]["mode"])
"""


def test_a_server_in_a_venv_under_tmp_keeps_its_sandbox_working():
    """A newcomer's venv may live in /tmp, which bubblewrap replaces with a private tmpfs: the
    interpreter's installation stays visible (read-only) to the sandbox."""
    folder = Path(tempfile.mkdtemp(prefix="venv-", dir="/tmp"))  # open to all, as a user's /tmp/venv
    try:
        folder.chmod(0o755)
        python = venv_seeing_this_python(folder / "venv")
        done = subprocess.run([str(python), "-c", IN_A_VENV], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(folder)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["42", "bwrap"]


# -- 4. keyrings: neither the server's session keyring nor another tenant's ---------------------

READ_KEY = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
key = libc.syscall(249, b"user", NAME, None, 0)            # request_key: search this process's keyrings
buffer = ctypes.create_string_buffer(256)
size = libc.syscall(250, 11, key, buffer, 256) if key > 0 else -1   # KEYCTL_READ
listed = NAME.decode() in open('/proc/keys').read()
print(buffer.raw[:size].decode() if size > 0 else 'unreadable', 'listed' if listed else 'unlisted')
"""
ADD_KEY = r"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(libc.syscall(248, b"user", b"openenv-test-tenant-key", b"tenant-payload", 14, -3) > 0)  # add_key to @s
"""


def read_key(name: str) -> str:
    return READ_KEY.replace("NAME", repr(name.encode()))


@pytest.mark.parametrize("mode", ["bwrap", "namespaces", "user"])
def test_tenants_reach_neither_the_servers_session_keyring_nor_each_others(mode):
    """A server started by a login, ``su -l`` or systemd has a session keyring of its own; the
    sandbox's code possessed it (inherited through the change of user): it read the server's
    key, and what one tenant added there the other read. In the ``user`` mode every tenant runs
    as the server's user: a key's name stays listed to them (``/proc/keys``), never its payload."""
    with under_session_keyring("openenv-test-server-key", mode, uids=[61_040, 61_042]) as url, \
            session(url) as first, session(url) as second:
        first.reset()
        second.reset()
        assert step(first, ADD_KEY)["stdout"] == "True\n"  # its own session keyring takes it
        for client, key in ((first, "openenv-test-server-key"), (second, "openenv-test-server-key"),
                            (second, "openenv-test-tenant-key")):
            seen = step(client, read_key(key))["stdout"].split()
            assert seen[0] == "unreadable" and (mode == "user" or seen[1] == "unlisted"), (key, seen)


# -- 5. user ids and control groups are leased per host, whatever the environment ---------------

WHO = "import os, time\ntime.sleep(SECONDS)\nprint(os.getuid())"
HOST_PATHS = ("/sys/fs/cgroup", "/run/openenv-gym", "openenv-gym-coding-uids", str(REPO_ROOT))


def replies_of(client, code: str) -> tuple[dict, str]:
    """The observation of a step (``{}`` if it failed) and every text a tenant got back."""
    try:
        obs = step(client, code)
    except ExecutionError as exc:
        return {}, str(exc)
    return obs, json.dumps(obs)


def test_two_servers_with_different_tmpdirs_lease_different_ids_and_kill_nothing(tmp_path):
    """Two servers on one host whose ``TMPDIR`` differ (or systemd's ``PrivateTmp``) leased the
    same user id: the second's start killed the first's step, and a step could fail naming a
    host control group."""
    folders = [tmp_path / "a", tmp_path / "b"]
    for folder in folders:
        folder.mkdir()
    with running(uids=[61_300, 61_302], environment={"TMPDIR": str(folders[0])}) as a, \
            running(uids=[61_300, 61_302], environment={"TMPDIR": str(folders[1])}) as b, \
            session(a) as first, session(b) as second:
        uids = [uid_of(first.reset().info)]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            slow = pool.submit(replies_of, first, WHO.replace("SECONDS", "3"))
            time.sleep(0.5)  # the first's step is running when the second server starts its sandbox
            uids.append(uid_of(second.reset().info))
            replies = [replies_of(second, WHO.replace("SECONDS", "0")), slow.result(timeout=60)]
        replies += [replies_of(client, "print('again')") for client in (first, second)]
    texts = "\n".join(text for _, text in replies)
    assert not [path for path in HOST_PATHS if path in texts], texts
    assert uids[0] != uids[1], uids
    outputs = [(obs.get("stdout"), obs.get("exit_code")) for obs, _ in replies]
    assert outputs == [(f"{uids[1]}\n", 0), (f"{uids[0]}\n", 0), ("again\n", 0), ("again\n", 0)], texts


@pytest.mark.parametrize("mode", ["bwrap", "namespaces"])
def test_an_error_reply_names_no_host_path(mode):
    """A sandbox that cannot start (here: too few processes for its namespaces) is an error
    reply that says so, without the host's paths (they stay in the server's log)."""
    with running(mode, uids=[61_304, 61_306], max_processes=1) as provider, session(provider) as client:
        with pytest.raises(ExecutionError) as failed:
            client.reset()
    message = str(failed.value)
    assert "did not start" in message and not [p for p in (*HOST_PATHS, "/tmp/", "/root/") if p in message], message


# -- 6. the task's expected values are out of reach (reward hacking) ------------------------------

CHEAT = r"""
import ast, os, pathlib, re, sys

def words():
    yield sys.argv[0]
    for pid in ['self', '1', *sorted(p for p in os.listdir('/proc') if p.isdigit())]:
        for name in ('cmdline', 'environ'):
            try:
                yield open(f'/proc/{pid}/{name}', 'rb').read().decode(errors='replace')
            except OSError:
                pass
        for link in ('cwd', 'root', 'exe'):
            try:
                yield os.readlink(f'/proc/{pid}/{link}')
            except OSError:
                pass
    yield ' '.join(['/work', '/root', '/home', '/srv', '/opt', '/app', '/src', sys.prefix, *sys.path])

def candidates():
    try:
        import openenv_gym.envs.coding.tasks as tasks
        yield tasks.__file__
    except Exception:
        pass
    paths = {p for word in words() for p in re.findall(r'/[\w.+-]+(?:/[\w.+-]+)*', word)}
    for path in sorted(paths):
        for folder in [path, *map(str, pathlib.Path(path).parents)]:
            for tail in ('tasks.py', 'envs/coding/tasks.py', 'openenv_gym/envs/coding/tasks.py'):
                yield os.path.join(folder, tail)
    budget = 300_000
    for path in sorted(paths):
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d not in ('.git', 'node_modules')] if budget > 0 else []
            budget -= len(dirs) + len(files)
            if 'tasks.py' in files and root.endswith('coding'):
                yield os.path.join(root, 'tasks.py')

answers, readable = {}, set()
for path in candidates():
    try:
        tree = ast.parse(open(path).read())
    except (OSError, SyntaxError, ValueError):
        continue
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and call.args and getattr(call.args[0], 'value', None) == 'fizzbuzz':
            readable.add(path)
            answers.update(ast.literal_eval(case) for case in call.args[3:])
    if answers:
        break

def fizzbuzz(n):
    return answers[(n,)]

print('readable', sorted(readable))
"""


@pytest.mark.parametrize("mode", ["bwrap", "namespaces", "user"])
def test_the_tasks_expected_values_are_out_of_the_sandboxs_reach(mode):
    """In the ``namespaces`` mode a program read ``tasks.py`` next to the worker
    (``sys.argv[0]``) and answered from the expected values: reward 1.0. It looks everywhere
    a tenant would: ``sys.argv[0]``, the package, ``/proc/*/cmdline`` and links, usual folders."""
    with running(mode, uids=[61_320, 61_322], timeout_s=60) as provider, session(provider) as client:
        client.reset(task="fizzbuzz")
        result = client.step({"code": CHEAT})
    assert result.observation["stdout"] == "readable []\n", result.observation
    assert result.reward < 1.0


# -- 7. what concurrent tenants share: host sockets, temporary files, control groups --------------

CONNECT = r"""
import socket
reached = []
for path in PATHS:
    with socket.socket(socket.AF_UNIX) as sock:
        try:
            sock.connect(path)
            reached.append(path)
        except OSError:
            pass
print('reached', reached)
"""


@pytest.mark.parametrize("mode", ["bwrap", "namespaces"])
def test_network_none_reaches_no_unix_socket_of_the_host(mode):
    paths = [f"/run/openenv-test-{os.getpid()}.sock", f"/tmp/openenv-test-{os.getpid()}.sock"]
    listeners = []
    try:
        for path in paths:
            listener = socket.socket(socket.AF_UNIX)
            listener.bind(path)
            os.chmod(path, 0o666)
            listener.listen()
            listeners.append(listener)
        with running(mode, uids=[61_324, 61_326]) as provider, session(provider) as client:
            client.reset()
            assert step(client, CONNECT.replace("PATHS", repr(paths)))["stdout"] == "reached []\n"
    finally:
        for listener, path in zip(listeners, paths, strict=False):
            listener.close()
            os.unlink(path)


WRITE = r"""
import os
written = []
for folder in ('/tmp', '/var/tmp', '/dev/shm', os.getcwd()):
    try:
        with open(f'{folder}/openenv-test-mine', 'w') as file:
            file.write('secret')
        written.append(folder)
    except OSError:
        pass
print(os.getcwd())
"""
LOOK_AROUND = r"""
import os
found = []
for folder in FOLDERS:
    try:
        found += [f'{folder}/{name}' for name in os.listdir(folder) if name == 'openenv-test-mine']
    except OSError:
        pass
    try:
        found.append(open(f'{folder}/openenv-test-mine').read())
    except OSError:
        pass
groups = []
for root, folders, _ in os.walk('/sys/fs/cgroup'):
    for name in [f for f in folders if f.startswith('openenv-coding-')]:
        for file in ('memory.usage_in_bytes', 'memory.current', 'cpuacct.usage', 'cpu.stat', 'pids.current'):
            try:
                open(os.path.join(root, name, file)).read()
                groups.append(name)
            except OSError:
                pass
print(found, sorted(set(groups)))
"""


@pytest.mark.parametrize("mode", ["bwrap", "namespaces", "user"])
def test_a_tenant_reads_nothing_of_a_concurrent_tenants_files_or_usage(mode):
    """While a tenant runs, another looks in ``/tmp``, ``/var/tmp``, ``/dev/shm``, the first's
    working directory, and the control groups' usage files. (In the ``user`` mode both run as
    the server's user and share ``/dev/shm``, which POSIX semaphores need: the README says so.)"""
    with running(mode, uids=[61_328, 61_330]) as provider, session(provider) as first, \
            session(provider) as second:
        first.reset()
        second.reset()
        home = step(first, WRITE)["stdout"].strip()
        folders = repr(["/tmp", "/var/tmp", home] + ([] if mode == "user" else ["/dev/shm"]))
        assert step(second, LOOK_AROUND.replace("FOLDERS", folders))["stdout"] == "[] []\n"
