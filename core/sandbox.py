"""The box every child process of a job runs in: bubblewrap namespaces, limits, nothing else.

`prepare(cmd, spec)` turns a command into a `Launch` (argv, the file descriptors it inherits,
a preexec function); `core.child_process.run_child` and the serving replicas start every
child through it. With `CODE_SANDBOX=bubblewrap` (the default) the child gets:

- its own unprivileged user (never root: a worker running as root starts each box on a uid of
  its own from `CODE_SANDBOX_UID_BASE`; any other worker's boxes map to the worker's uid in a
  user namespace), and its own PID,
  IPC, UTS, cgroup and network namespaces: no network at all unless `CODE_SANDBOX_NETWORK`
  is on (an admin setting; a job can never ask for it). A replica gets one listening socket,
  created outside and inherited, so it can answer without being able to connect anywhere.
- a filesystem built from nothing: `/usr` and the Python installation and virtual environment
  read-only, a synthetic `/etc/passwd`, a private `/tmp` and `/dev/shm`, a fresh `/proc`
  that shows only the box, the project modules the platform's runner needs (read-only, under
  `/opt/crucible`), and the job's own folders (`writable` read-write, `readable` read-only).
  No data folder, database, `.env` or other job's folder exists in it.
- resource limits set inside the box (so they count only the box's own processes): address
  space, CPU seconds, processes, file size and open files.
- death with its parent (`--die-with-parent`): when the worker process that started it exits
  or is killed, or the box's own bubblewrap process is stopped, every process in the box gets
  SIGKILL; the PID namespace makes a `setsid`/double-fork child a member of the box all the
  same. Each box is labelled (`--setenv CRUCIBLE_SANDBOX <label>` on bubblewrap's command
  line) so that the stale-job sweep can find and kill what a lost worker left behind.
"""

import ctypes
import functools
import hashlib
import os
import resource
import shutil
import signal
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from .errors import DomainError

ROOT = Path(__file__).resolve().parent.parent
MODULE_ROOT = "/opt/crucible"  # where the runner modules appear inside the box
LABEL_VARIABLE = "CRUCIBLE_SANDBOX"
PR_SET_PDEATHSIG = 1
INSTALL_HINT = (
    "install Debian's `bubblewrap` package (apt-get install bubblewrap) on the worker, or, on a "
    "development machine only, set CODE_SANDBOX=none"
)


class SandboxUnavailable(DomainError):
    """The worker cannot box user code and is not allowed to run it unboxed."""

    status_code = 503
    exception = "SandboxUnavailableException"


@dataclass(frozen=True)
class Limits:
    memory_bytes: int | None = None  # address space of each process
    cpu_seconds: int | None = None  # CPU time of each process
    processes: int | None = None  # processes (and threads) in the box
    file_bytes: int | None = None  # the largest file the box may write
    open_files: int = 4096

    @classmethod
    def for_job(cls, *, memory_gb=None, cpu=None, wall_time_seconds=None):
        """The limits of a user's job from its requested resources and the sandbox settings."""
        memory = int(memory_gb * 1024**3) if memory_gb else None
        cpu_seconds = max(1, int(cpu or 1)) * int(wall_time_seconds) + 5 if wall_time_seconds else None
        return cls(
            memory_bytes=memory,
            cpu_seconds=cpu_seconds,
            processes=settings.CODE_SANDBOX_MAX_PROCESSES,
            file_bytes=settings.CODE_SANDBOX_MAX_FILE_BYTES,
        )


@dataclass
class Spec:
    """What one box may see and do."""

    label: str  # e.g. "training.codetask:7": names the box for the sweep and the logs
    writable: list = field(default_factory=list)  # folders bound read-write at their own path
    readable: list = field(default_factory=list)  # folders bound read-only at their own path
    modules: list = field(default_factory=list)  # project files the runner needs, e.g. "training/runner.py"
    limits: Limits = field(default_factory=Limits)
    cwd: str | None = None
    env: dict = field(default_factory=dict)
    network: bool | None = None  # None: CODE_SANDBOX_NETWORK decides
    keep_fds: list = field(default_factory=list)  # descriptors the command itself inherits (a replica's socket)
    cpus: int | None = None  # pin to this many cores


@dataclass
class Launch:
    argv: list
    pass_fds: tuple
    preexec: object
    env: dict
    cwd: str | None
    opened: list = field(default_factory=list)  # descriptors to close in the parent once started
    sandboxed: bool = True

    def close(self):
        for fd in self.opened:
            try:
                os.close(fd)
            except OSError:
                pass
        self.opened = []


def mode():
    return settings.CODE_SANDBOX


@functools.lru_cache(maxsize=1)
def _probe():
    """None when bubblewrap can build a box here, else the reason it cannot."""
    path = shutil.which("bwrap")
    if not path:
        return "bubblewrap (bwrap) is not installed"
    try:
        launch = _bubblewrap(["/bin/true"], Spec(label="probe"))
        try:
            done = subprocess.run(launch.argv, pass_fds=launch.pass_fds, preexec_fn=launch.preexec, env=launch.env,
                                  stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        finally:
            launch.close()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap cannot start: {exc}"
    if done.returncode != 0:
        return "bubblewrap cannot create namespaces here: " + done.stderr.decode(errors="replace").strip()[:300]
    return None


def status():
    """For /healthz and the admin: which sandbox this process's jobs get, and whether it works."""
    if mode() == "none":
        return {"sandbox": "none", "available": True, "detail": "user code runs unboxed (development only)"}
    problem = _probe()
    return {"sandbox": "bubblewrap", "available": problem is None, "detail": problem or "namespaces available"}


def require():
    """Raise SandboxUnavailable unless jobs can be started here (boxed, or unboxed by admin choice)."""
    if mode() == "none":
        return
    problem = _probe()
    if problem:
        raise SandboxUnavailable(f"user code cannot run on this worker: {problem}; {INSTALL_HINT}")


def prepare(cmd, spec):
    """How to start `cmd` inside the box described by `spec` (or unboxed with CODE_SANDBOX=none)."""
    if mode() == "none":
        return _unboxed(cmd, spec)
    require()
    return _bubblewrap(cmd, spec)


# --- unboxed (development only) -------------------------------------------------------------------


def _unboxed(cmd, spec):
    limits = spec.limits

    def preexec():
        _set_limits(limits)
        if spec.cpus:
            _pin(spec.cpus)
        _die_with_parent()

    env = dict(spec.env)
    if spec.modules:
        env["PYTHONPATH"] = ":".join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return Launch(argv=list(cmd), pass_fds=tuple(spec.keep_fds), preexec=preexec, env=env, cwd=spec.cwd,
                  sandboxed=False)


def _set_limits(limits):
    pairs = [
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_CPU, limits.cpu_seconds),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_NOFILE, limits.open_files),
    ]
    for which, value in pairs:
        if value:
            resource.setrlimit(which, (value, value))


# --- bubblewrap ---------------------------------------------------------------------------------


def _die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def _pin(count):
    try:
        available = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(available[: max(1, count)]))
    except (AttributeError, OSError):
        pass


def box_uid(label):
    """The uid a box runs as when the worker is root: one of CODE_SANDBOX_UID_COUNT unprivileged
    uids from CODE_SANDBOX_UID_BASE, picked by the box's label, so that each box's process limit
    counts its own processes (two boxes share a uid only by a rare collision)."""
    digest = int.from_bytes(hashlib.sha256(label.encode()).digest()[:4], "big")
    return settings.CODE_SANDBOX_UID_BASE + digest % settings.CODE_SANDBOX_UID_COUNT


def _system_paths():
    """Read-only parts of the host every box needs: /usr, the Python installation, the venv."""
    paths = ["/usr"]
    for prefix in {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        real = os.path.realpath(prefix)
        if not real.startswith("/usr/"):
            paths.append(real)
        if prefix != real and not prefix.startswith("/usr/"):
            paths.append(prefix)  # the venv as named (its python symlinks point into the real prefix)
    for extra in settings.CODE_SANDBOX_EXTRA_READABLE:
        paths.append(extra)
    seen, result = set(), []
    for path in paths:
        if path and path not in seen and os.path.exists(path):
            seen.add(path)
            result.append(path)
    return result


ETC_FILES = ("ld.so.cache", "ld.so.conf", "localtime", "nsswitch.conf", "mime.types")


def _passwd(uid, gid):
    return (
        f"root:x:0:0:root:/root:/usr/sbin/nologin\ncrucible:x:{uid}:{gid}:Crucible job:/tmp:/bin/sh\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        f"root:x:0:\ncrucible:x:{gid}:\nnogroup:x:65534:\n",
    )


class _Builder:
    def __init__(self):
        self.args = []
        self.fds = []  # pipes bubblewrap reads file contents from, closed in the parent after start
        self.made = {"/tmp", "/dev", "/proc"}

    def parents(self, dest):
        """Create the folders above `dest` world-readable (bubblewrap would copy the host's modes,
        and a /root of 0700 would hide a Python installed under it from the box's user)."""
        missing = []
        for parent in Path(dest).parents:
            if str(parent) == "/" or str(parent) in self.made:
                break
            missing.append(str(parent))
        for folder in reversed(missing):
            self.made.add(folder)
            self.args += ["--perms", "0755", "--dir", folder]

    def bind(self, source, dest=None, writable=False):
        dest = str(dest or source)
        self.parents(dest)
        self.args += ["--bind" if writable else "--ro-bind", str(source), dest]

    def data(self, text, dest):
        self.parents(dest)
        read, write = os.pipe()
        os.write(write, text.encode())
        os.close(write)
        self.fds.append(read)
        self.args += ["--ro-bind-data", str(read), dest]


def _bubblewrap(cmd, spec):
    """bubblewrap's command line for `cmd`.

    A worker running as root starts bubblewrap privileged (no user namespace) and the box drops
    to an unprivileged uid of its own with setpriv before anything of the job runs; any other
    worker runs bubblewrap unprivileged in a user namespace, where the job's uid maps to the
    worker's. Either way the process limit is set inside (prlimit), after the namespaces exist.
    """
    as_root = os.geteuid() == 0
    network = settings.CODE_SANDBOX_NETWORK if spec.network is None else spec.network
    b = _Builder()
    try:
        b.args.append("bwrap")
        if as_root:
            uid = gid = box_uid(spec.label)
            b.args += ["--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
            if not network:
                b.args.append("--unshare-net")
            b.args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
            drop = ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all", "--"]
        else:
            uid = gid = settings.CODE_SANDBOX_INNER_UID
            b.args += ["--unshare-all", "--unshare-user", "--disable-userns", "--uid", str(uid), "--gid", str(gid)]
            if network:
                b.args.append("--share-net")
            drop = []
        b.args += [
            "--die-with-parent", "--new-session", "--hostname", "crucible-job",
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", str(settings.CODE_SANDBOX_TMP_BYTES), "--tmpfs", "/tmp",
            "--perms", "1777", "--size", str(settings.CODE_SANDBOX_TMP_BYTES), "--tmpfs", "/dev/shm",
        ]
        for link in ("bin", "lib", "lib64", "sbin"):
            path = Path("/") / link
            if path.is_symlink():
                b.args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                b.bind(str(path))
        for path in _system_paths():
            b.bind(path)
        for name in ETC_FILES:
            if os.path.exists(f"/etc/{name}"):
                b.bind(f"/etc/{name}")
        if network:
            for name in ("resolv.conf", "hosts", "ssl", "ca-certificates"):
                if os.path.exists(f"/etc/{name}"):
                    b.bind(f"/etc/{name}")
        passwd, group = _passwd(uid, gid)
        b.data(passwd, "/etc/passwd")
        b.data(group, "/etc/group")
        if os.path.isdir("/sys/devices/system/cpu"):
            b.bind("/sys/devices/system/cpu")
        for device in settings.CODE_SANDBOX_DEVICES:
            if os.path.exists(device):
                b.args += ["--dev-bind", device, device]
        for module in spec.modules:
            source = ROOT / module
            b.bind(str(source), f"{MODULE_ROOT}/{module}")
            init = source.parent / "__init__.py"
            if init.exists() and str(Path(module).parent) != ".":
                b.bind(str(init), f"{MODULE_ROOT}/{Path(module).parent}/__init__.py")
        for path in spec.readable:
            if path and os.path.exists(path):
                if as_root:
                    _open_up(Path(path))
                b.bind(str(path))
        for path in spec.writable:
            Path(path).mkdir(parents=True, exist_ok=True)
            if as_root:
                _hand_over(Path(path), uid, gid)
            b.bind(str(path), writable=True)
        # The environment is the one the worker built from nothing (Popen's env); the label is
        # set on the command line so that the sweep can find the box.
        b.args += ["--setenv", LABEL_VARIABLE, spec.label]
        if spec.cwd:
            b.args += ["--chdir", str(spec.cwd)]
        b.args += ["--", *drop, *_limit_prefix(spec.limits), *cmd]
    except BaseException:
        for fd in b.fds:
            os.close(fd)
        raise

    env = dict(spec.env)
    env.pop(LABEL_VARIABLE, None)
    if spec.modules:
        env["PYTHONPATH"] = ":".join(p for p in (MODULE_ROOT, env.get("PYTHONPATH", "")) if p)
    cpus = spec.cpus

    def preexec():
        if cpus:
            _pin(cpus)
        _die_with_parent()

    return Launch(argv=b.args, pass_fds=tuple(b.fds) + tuple(spec.keep_fds), preexec=preexec, env=env,
                  cwd=None, opened=list(b.fds))


def _limit_prefix(limits):
    """prlimit, run inside the box, so the process limit counts the box's processes only."""
    args = []
    if limits.memory_bytes:
        args.append(f"--as={limits.memory_bytes}")
    if limits.cpu_seconds:
        args.append(f"--cpu={limits.cpu_seconds}")
    if limits.processes:
        args.append(f"--nproc={limits.processes}")
    if limits.file_bytes:
        args.append(f"--fsize={limits.file_bytes}")
    if limits.open_files:
        args.append(f"--nofile={limits.open_files}")
    return ["/usr/bin/prlimit", *args, "--"] if args else []


def _open_up(folder):
    """Let a root worker's box (another uid) read an input folder: add read (and search) bits.
    Only the folder is bound into the box; outside, the data folder's own mode keeps others out."""
    for dirpath, _dirnames, filenames in os.walk(folder):
        try:
            os.chmod(dirpath, os.stat(dirpath).st_mode | 0o555)
        except OSError:
            pass
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                mode = os.lstat(path).st_mode
                if stat.S_ISREG(mode) and mode & 0o444 != 0o444:
                    os.chmod(path, mode | 0o444)
            except OSError:
                pass


def _hand_over(folder, uid, gid):
    """Make a writable folder (and what is already in it) the box's own (a root worker's boxes)."""
    os.chown(folder, uid, gid)
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            try:
                os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
            except OSError:
                pass


# --- finding boxes ------------------------------------------------------------------------------


def label_for(job):
    return f"{job._meta.label_lower}:{job.pk}"


def processes_of(label):
    """Pids of this host's bubblewrap processes that carry `label` (the boxes of one job)."""
    marker = f"{LABEL_VARIABLE}\0{label}\0".encode()
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if cmdline.startswith(b"bwrap\0") and marker in cmdline:
            pids.append(int(entry.name))
    return pids


def kill_boxes(label):
    """SIGKILL every box of `label` on this host (the box's processes die with its bubblewrap)."""
    killed = 0
    for pid in processes_of(label):
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except OSError:
            pass
    return killed


def scrub(folder):
    """Delete what a box may leave in its folder to trick the worker that collects it: symbolic
    links (to the database, another user's files) and fifos, sockets, devices. Runs after the box
    is gone, so nothing can race it. Returns how many entries went."""
    removed = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            try:
                mode = os.lstat(path).st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode) or not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                try:
                    os.unlink(path)
                    removed += 1
                except OSError:
                    pass
    return removed


def folder_bytes(folders):
    """Bytes under the given folders (the disk a running job uses), without following links."""
    total = 0
    for folder in folders:
        for dirpath, _dirnames, filenames in os.walk(folder):
            for name in filenames:
                try:
                    total += os.lstat(os.path.join(dirpath, name)).st_size
                except OSError:
                    pass
    return total
