"""The tiny demo workflow through ``profiles/slurm`` on a real one-node SLURM cluster on localhost.

Installs Debian's SLURM and munge when missing (apt-get, as root), starts munged, slurmctld and
slurmd with a fake GPU (GRES ``gpu:1`` backed by /dev/null), runs the workflow with the profile
(partition set to the test cluster's ``debug``), checks that every non-local job ran as a SLURM
job with the GPUs it asked for, compares the metrics with the session's local run of the same
configuration (``tiny_run_started``, which runs meanwhile) and stops every daemon it started by
PID. The profile is described in docs/cluster.md. Where SLURM cannot be installed or started
here (not root, no apt-get) it is skipped with the reason, and fails with ``CI=true``; it is
skipped also where a SLURM is already running on this machine, or another test session holds the
test cluster.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from needs import missing
from workflow_rules import workflow_rules
from workflow_runner import REPO, SNAKEMAKE, TINY_RUN

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
DAEMONS = ["munged", "slurmctld", "slurmd"]
ETC = Path("/etc/slurm")
INSTALL_TIMEOUT_S = 300
START_TIMEOUT_S = 60
RUN_TIMEOUT_S = 420          # the SLURM run of the workflow (about 90 s here)
# The shared local run's configuration for one of its seeds, without the kNN baseline and without
# snapshots (their scoring is one more job of the same kind as evaluate, which runs here).
CONFIG = {**TINY_RUN, "seeds": [0], "baselines": [],
          "train": {**TINY_RUN["train"], "snapshot_every": 0}}


def _skip(reason: str):
    print(f"\ntest_slurm skipped: {reason}", file=sys.stderr)
    pytest.skip(reason)


def _missing() -> list[str]:
    return [tool for tool in ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch")
            if shutil.which(tool) is None]


def _ensure_installed() -> None:
    """apt-get install the packages when a tool is missing; skip (with why) if that cannot work."""
    if not _missing():
        return
    install = f"install Debian's {' '.join(PACKAGES)} (apt-get, as root)"
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        missing(f"SLURM/munge missing ({', '.join(_missing())}): {install}")
    if shutil.which("apt-get") is None:
        missing(f"SLURM/munge missing ({', '.join(_missing())}) and there is no apt-get here: "
                f"install {' '.join(PACKAGES)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES]):
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=INSTALL_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            missing(f"`{' '.join(command)}` took over {INSTALL_TIMEOUT_S} s: {install}")
        if done.returncode != 0:
            missing(f"`{' '.join(command)}` failed: {(done.stderr or done.stdout)[-600:]}")
    if _missing():
        missing(f"still missing after apt-get install: {', '.join(_missing())}")


def _running_daemons() -> list[str]:
    """SLURM or munge daemons already running on this machine (not ours: we start none yet)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                name = (proc / "comm").read_text().strip()
            except OSError:
                continue
            if name in DAEMONS:
                found.append(f"{name} (pid {proc.name})")
    return found


def _tail(path: Path, chars: int = 1500) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"<no {path}>"


class Cluster:
    """munged, slurmctld and slurmd in the foreground (their PIDs are ours), state in scratch."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.backups: dict[Path, bytes | None] = {}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}

    def _write_etc(self, name: str, text: str) -> None:
        path = ETC / name
        self.backups[path] = path.read_bytes() if path.exists() else None
        ETC.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def _start(self, name: str, command: list[str], **kwargs) -> None:
        log = open(self.scratch / "log" / f"{name}.out", "w")  # noqa: SIM115
        self.procs.append((name, subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                  env=self.env, **kwargs)))

    def start(self) -> None:
        s = self.scratch
        for sub in ("munge", "munge-run", "state", "spool", "log", "run"):
            (s / sub).mkdir(mode=0o755)
        for sub in ("munge", "munge-run"):
            shutil.chown(s / sub, "munge", "munge")
        key, socket = s / "munge" / "munge.key", s / "munge-run" / "munge.socket"
        subprocess.run(["mungekey", "-c", "-k", str(key)], check=True, user="munge",
                       group="munge", capture_output=True)
        self._start("munged", ["munged", "-F", "-S", str(socket), "--key-file", str(key),
                               "--pid-file", str(s / "munge" / "munged.pid"),
                               "--log-file", str(s / "munge" / "munged.log"),
                               "--seed-file", str(s / "munge" / "munged.seed")],
                    user="munge", group="munge")
        self._wait(lambda: socket.exists(), "munged's socket", s / "munge" / "munged.log")
        node = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
        memory = re.search(r"RealMemory=(\d+)", node.stdout).group(1)
        self._write_etc("slurm.conf", "\n".join([
            "ClusterName=hgadtest", "SlurmctldHost=localhost", "SlurmUser=root",
            "SlurmdUser=root", "AuthType=auth/munge", "CredType=cred/munge",
            f"AuthInfo=socket={socket}", "MpiDefault=none",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_Core_Memory",
            "DefMemPerCPU=1000", "MinJobAge=300", "ReturnToService=2",
            "AccountingStorageType=accounting_storage/none",
            "JobAcctGatherType=jobacct_gather/none",
            f"StateSaveLocation={s / 'state'}", f"SlurmdSpoolDir={s / 'spool'}",
            f"SlurmctldLogFile={s / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={s / 'log' / 'slurmd.log'}",
            f"SlurmctldPidFile={s / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={s / 'run' / 'slurmd.pid'}",
            "GresTypes=gpu",
            f"NodeName=localhost CPUs={os.cpu_count()} RealMemory={memory} Gres=gpu:1",
            "PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP", ""]))
        self._write_etc("gres.conf", "NodeName=localhost Name=gpu File=/dev/null\n")
        self._start("slurmctld", ["slurmctld", "-D", "-i"])
        self._start("slurmd", ["slurmd", "-D", "-N", "localhost"])
        self._wait(lambda: self.sinfo() == "idle", "the node to be idle", s / "log" / "slurmd.log")

    def sinfo(self) -> str:
        done = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                              env=self.env, timeout=20)
        return done.stdout.strip()

    def _wait(self, ready, what: str, log: Path) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready():
            dead = [f"{name} exited ({proc.returncode})" for name, proc in self.procs
                    if proc.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"waiting for {what}: {'; '.join(dead) or 'timed out'}\n"
                                   f"{_tail(log)}")
            time.sleep(0.5)

    def job(self, jobid: str) -> dict[str, str]:
        """``scontrol show job`` as a mapping (finished jobs stay listed for MinJobAge=300 s)."""
        done = subprocess.run(["scontrol", "-o", "show", "job", jobid], capture_output=True,
                              text=True, env=self.env, timeout=20)
        return dict(re.findall(r"(\w+)=(\S*)", done.stdout))

    def stop(self) -> None:
        """Cancel what is left in the queue, then stop our daemons by PID; restore /etc/slurm."""
        if any(name == "slurmctld" and proc.poll() is None for name, proc in self.procs):
            queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True,
                                    env=self.env, timeout=20).stdout.split()
            if queued:
                subprocess.run(["scancel", *queued], env=self.env, timeout=20)
        for _name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=15)
        for path, content in self.backups.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)


def _test_profile(folder: Path, rules: dict[str, dict]) -> Path:
    """profiles/slurm with the partition set where the user sets it, every job (``rules``: the
    workflow's) sized for this small node."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    profile["default-resources"].update(slurm_partition="debug", mem_mb=1000, cpus_per_task=1)
    profile["set-resources"] = {name: {"mem_mb": 1000, "cpus_per_task": 1}
                                for name, rule in rules.items() if rule["resources"]}
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return folder


def _snakemake(workdir: Path, *extra: str, timeout: float, env=None) -> tuple[int, str]:
    """Run the workflow in its own process group; on timeout kill the whole group."""
    workdir.mkdir(exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    proc = subprocess.Popen(
        [*SNAKEMAKE, "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
         "--configfile", str(workdir / "config.yaml"), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
        start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"snakemake ran over {timeout} s and was killed:\n{output[-4000:]}")
    return proc.returncode, output


def _jobs(output: str) -> dict[str, tuple[str, bool]]:
    """Snakemake's jobid -> (rule, is_local) from its log of the run."""
    jobs = {}
    for kind, rule, body in re.findall(r"^(rule|localrule) (\w+):\n((?:    .*\n)+)", output,
                                       flags=re.M):
        jobid = re.search(r"^    jobid: (\d+)$", body, flags=re.M)
        if jobid:
            jobs[jobid.group(1)] = (rule, kind == "localrule")
    return jobs


def _metrics(workdir: Path) -> dict:
    data = json.loads((workdir / "results/demo/seed0/metrics.json").read_text())
    return {"categories": data["categories"], "mean": data["mean"]}


def _assert_close(a, b, where: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, float | int) and not isinstance(a, bool):
        assert abs(a - b) <= 1e-6, f"{where}: SLURM {a} != local {b}"
    else:
        assert a == b, where


@pytest.fixture(scope="module")
def cluster():
    if not sys.platform.startswith("linux"):
        missing("a SLURM cluster on localhost needs Linux")
    # One cluster per machine: two test sessions at once would share apt, /etc/slurm, the ports.
    with open(Path(tempfile.gettempdir()) / "hgad-test-slurm.lock", "w") as lock:
        deadline = time.monotonic() + 600
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    _skip("another test session held the SLURM test cluster for 10 minutes")
                time.sleep(2)
        _ensure_installed()
        if os.geteuid() != 0:
            missing("starting slurmctld/slurmd and writing /etc/slurm/slurm.conf need root")
        if running := _running_daemons():
            _skip("SLURM/munge already running here, not reconfigured by a test: "
                  + ", ".join(running))
        scratch = Path(tempfile.mkdtemp(prefix="hgad-slurm-"))
        scratch.chmod(0o755)  # munged (user munge) must reach its folders
        running_cluster = Cluster(scratch)
        ok = False
        try:
            running_cluster.start()
            yield running_cluster
            ok = True
        finally:
            running_cluster.stop()
            if ok:
                shutil.rmtree(scratch, ignore_errors=True)
            else:
                print(f"\nSLURM test cluster logs kept in {scratch}", file=sys.stderr)


@pytest.mark.root
@pytest.mark.workflow
def test_demo_workflow_through_the_slurm_profile(cluster, tiny_run_started, tmp_path):
    (rules,) = workflow_rules([CONFIG], tmp_path / "rules")
    gpu_rules = {name for name, rule in rules.items() if rule["resources"].get("gpu")}
    profile = _test_profile(tmp_path / "profile", rules)
    started = time.monotonic()
    # The HTML table: every GPU rule through SLURM, a CPU rule (table) and a local one after it.
    # A thread per job, as in the local run: torch's sums depend on the number of threads.
    code, output = _snakemake(
        tmp_path / "slurm", "--profile", str(profile), "--max-threads", "1",
        "--slurm-status-command", "squeue",
        "--slurm-init-seconds-before-status-checks", "5",
        "--seconds-between-status-checks", "2", "--slurm-keep-successful-logs",
        "results/tables/demo.html", timeout=RUN_TIMEOUT_S, env=cluster.env)
    slurm_seconds = time.monotonic() - started
    assert code == 0, (f"{output[-5000:]}\n--- slurmctld.log\n"
                       f"{_tail(cluster.scratch / 'log' / 'slurmctld.log')}")

    jobs = _jobs(output)
    submitted = dict(re.findall(r"Job (\d+) has been submitted with SLURM jobid (\d+)", output))
    remote = {jobid: rule for jobid, (rule, local) in jobs.items() if not local}
    assert {"extract_features", "train", "evaluate", "table"} <= set(
        remote.values()), jobs
    assert "table_html" in {rule for rule, local in jobs.values() if local}, jobs
    assert set(remote) <= set(submitted), f"jobs run without SLURM: {set(remote) - set(submitted)}"
    assert set(submitted) <= set(remote), "a local rule was submitted to SLURM"
    logs = list((tmp_path / "slurm" / ".snakemake" / "slurm_logs").rglob("*.log"))
    for jobid, rule in remote.items():
        slurm_id = submitted[jobid]
        assert any(log.stem == slurm_id and f"rule_{rule}" in log.parts for log in logs), \
            f"no SLURM log {slurm_id}.log for {rule}"
        info = cluster.job(slurm_id)
        assert info.get("JobState") == "COMPLETED", (rule, info)
        assert info.get("Partition") == "debug", (rule, info)
        asks_gpu = "gpu" in info.get("TresPerJob", "") + info.get("TresPerNode", "")
        assert asks_gpu == (rule in gpu_rules), (rule, info)

    _assert_close(_metrics(tmp_path / "slurm"), _metrics(tiny_run_started.finished().folder))
    print(f"\nSLURM run {slurm_seconds:.0f} s ({len(remote)} SLURM jobs)", file=sys.stderr)
