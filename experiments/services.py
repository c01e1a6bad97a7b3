"""Writes: furnace commands (audited), the run loop, safe shutdown and recovery."""

import json
import logging
import math
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from core.errors import Conflict, DomainError, Forbidden, NotFound
from core.jobs import JobCancelled
from core.models import JobStatus
from core.services import enqueue_job, request_cancel

from . import selectors
from .drivers import driver_for
from .models import TELEMETRY_CHANNELS, AuditEntry, Experiment, ExperimentRun, Furnace, TelemetryChunk
from .profiles import Program, validate_parameters
from .video import render_run_video

logger = logging.getLogger(__name__)

AUDIT_PAYLOAD_MAX_CHARS = 64 * 1024
TARGET_BAND_C = 2.0  # a zone is "on target" within this many degrees of its setpoint
CHECK_INTERVAL_S = 0.2  # wall seconds between checks for a stop command and telemetry flushes
FLUSH_MAX_SAMPLES = 600


# --- audit -------------------------------------------------------------------
def _payload_for_audit(payload):
    try:
        text = json.dumps(payload, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return {"unserialisable": repr(payload)[:1000]}
    if len(text) > AUDIT_PAYLOAD_MAX_CHARS:
        return {"truncated": True, "chars": len(text), "start": text[:1000]}
    return payload


def record_audit(user, action, via, payload, outcome, status_code=200, message="", furnace=None, run=None, experiment_id=""):
    return AuditEntry.objects.create(
        user=user if getattr(user, "pk", None) else None,
        username=getattr(user, "username", "") or "",
        action=action,
        via=via,
        furnace=furnace,
        run=run,
        experiment_id=experiment_id or "",
        payload=_payload_for_audit(payload),
        outcome=outcome,
        status_code=status_code,
        message=message[:5000],
    )


def _audited(user, action, via, payload, command):
    """Run `command()` and record the outcome, refused or not. `command` returns (result, audit fields, message)."""
    try:
        result, fields, message = command()
    except DomainError as exc:
        record_audit(user, action, via, payload, AuditEntry.Outcome.REFUSED, exc.status_code, exc.message)
        raise
    except Exception as exc:
        record_audit(user, action, via, payload, AuditEntry.Outcome.ERROR, 500, f"{type(exc).__name__}: {exc}")
        raise
    record_audit(user, action, via, payload, AuditEntry.Outcome.OK, 200, message, **fields)
    return result


def require_operator(user, action):
    if not getattr(user, "is_operator", False):
        raise Forbidden(f"{action} needs the operator role; ask an administrator to grant it")


# --- commands ----------------------------------------------------------------
def _new_experiment_id():
    return f"EXP-{timezone.now():%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def set_parameters(user, *, parameters, furnace_name=None, via, payload=None):
    """Validate a parameter table, store it and load it into the furnace. Returns the Experiment."""

    def command():
        require_operator(user, "set_parameters")
        furnace = selectors.resolve_furnace(furnace_name)
        program = validate_parameters(parameters, furnace, selectors.known_precursors())
        experiment_id = program.pop("order") or _new_experiment_id()
        with transaction.atomic():
            experiment = Experiment.objects.select_for_update().filter(experiment_id=experiment_id).first()
            if experiment and experiment.owner_id not in (None, user.pk) and not user.is_platform_admin:
                raise Conflict(f"experiment {experiment_id!r} belongs to another user; choose another", field="order")
            if experiment is None:
                experiment = Experiment(experiment_id=experiment_id, owner=user)
            experiment.order = experiment_id
            experiment.furnace = furnace
            experiment.raw_parameters = parameters
            for key, value in program.items():
                setattr(experiment, key, value)
            experiment.save()
            Furnace.objects.filter(pk=furnace.pk).update(loaded_experiment=experiment)
        message = f"experiment {experiment_id} loaded into furnace {furnace.name}"
        return experiment, {"furnace": furnace, "experiment_id": experiment_id}, message

    return _audited(user, "set_parameters", via, payload if payload is not None else parameters, command)


def _append_log(run, line):
    stamp = timezone.now().strftime("%H:%M:%S")
    ExperimentRun.objects.filter(pk=run.pk).update(log=Concat(F("log"), Value(f"[{stamp}] {line}\n")))


def start_experiment(user, *, furnace_name=None, experiment_id=None, via, payload=None):
    """Queue a run of the loaded (or named) parameter set. One active run per furnace."""

    def command():
        require_operator(user, "start_experiment")
        furnace = selectors.resolve_furnace(furnace_name)
        recover_lost_runs(furnace)
        try:
            with transaction.atomic():
                furnace = Furnace.objects.select_for_update().get(pk=furnace.pk)
                busy = selectors.active_run(furnace)
                if busy:
                    raise Conflict(
                        f"furnace {furnace.name} is busy: task {busy.pk} (experiment {busy.experiment_code}) is "
                        f"{busy.status}; stop it or wait until it ends"
                    )
                unsafe = furnace.runs.filter(status=JobStatus.FAILED, safe_state_confirmed=False).exclude(phase="").first()
                if unsafe:
                    raise Conflict(
                        f"furnace {furnace.name} is not confirmed safe after task {unsafe.pk} failed; "
                        "recovery is retried by every worker, check the controller"
                    )
                experiment = _experiment_to_start(user, furnace, experiment_id)
                # Limits may have changed since the parameters were set: check again.
                program = validate_parameters(experiment.raw_parameters, furnace, selectors.known_precursors())
                program.pop("order")
                program["experiment_id"] = experiment.experiment_id
                run = ExperimentRun.objects.create(
                    owner=user,
                    experiment=experiment,
                    furnace=furnace,
                    program=program,
                    time_acceleration=furnace.time_acceleration,
                    log=f"[{timezone.now():%H:%M:%S}] queued by {user.username}: experiment {experiment.experiment_id} "
                    f"on furnace {furnace.name}, {program['duration_s'] / 60:g} min program\n",
                )
                enqueue_job(run)
        except IntegrityError:
            raise Conflict(f"furnace {furnace.name} is busy: another run was started at the same moment") from None
        message = f"task {run.pk} queued on furnace {furnace.name}"
        return run, {"furnace": furnace, "run": run, "experiment_id": run.experiment_code}, message

    return _audited(user, "start_experiment", via, payload or {}, command)


def _experiment_to_start(user, furnace, experiment_id):
    if experiment_id:
        experiment = selectors.visible_experiments(user).filter(experiment_id=experiment_id).first()
        if experiment is None:
            raise NotFound(f"experiment_id: no experiment {experiment_id!r}; set its parameters first")
        return experiment
    if furnace.loaded_experiment_id is None:
        raise Conflict(f"furnace {furnace.name} has no parameters loaded: set its parameters first (set_parameters)")
    return furnace.loaded_experiment


def stop_experiment(user, *, furnace_name=None, task_id=None, via, payload=None):
    """Ask the active run to shut down safely (a queued run is cancelled at once)."""

    def command():
        require_operator(user, "stop_experiment")
        if task_id not in (None, ""):
            run = selectors.get_visible_run(user, task_id)
            if not run.is_active:
                raise Conflict(f"task {run.pk} is not running (it is {run.status})")
        else:
            furnace = selectors.resolve_furnace(furnace_name)
            run = selectors.active_run(furnace)
            if run is None:
                raise Conflict(f"no experiment is running on furnace {furnace.name}")
        ExperimentRun.objects.filter(pk=run.pk).update(stop_requested_at=timezone.now(), stop_requested_by=user)
        _append_log(run, f"stop requested by {user.username}")
        run = request_cancel(run)
        if run.status == JobStatus.CANCELLED and not run.started_at:
            # Never reached the furnace: nothing to make safe.
            ExperimentRun.objects.filter(pk=run.pk).update(safe_state_confirmed=True)
        message = f"stop of task {run.pk} requested"
        return run, {"furnace": run.furnace, "run": run, "experiment_id": run.experiment_code}, message

    return _audited(user, "stop_experiment", via, payload or {}, command)


# --- the run -----------------------------------------------------------------
class ZoneStats:
    """Tracking statistics of one zone over the program, accumulated sample by sample."""

    def __init__(self, target):
        self.target = target
        self.count = 0
        self.sum_squares = 0.0
        self.max_abs_error = 0.0
        self.max_overshoot = 0.0
        self.in_band = 0
        self.at_target = 0

    def add(self, setpoint, measured):
        error = measured - setpoint
        self.count += 1
        self.sum_squares += error * error
        self.max_abs_error = max(self.max_abs_error, abs(error))
        self.max_overshoot = max(self.max_overshoot, error)
        if abs(error) <= TARGET_BAND_C:
            self.in_band += 1
            if abs(setpoint - self.target) < 1e-6:
                self.at_target += 1

    def as_dict(self):
        return {
            "rms_error_c": round(math.sqrt(self.sum_squares / self.count), 3) if self.count else None,
            "max_abs_error_c": round(self.max_abs_error, 3),
            "max_overshoot_c": round(self.max_overshoot, 3),
            "time_in_band_s": self.in_band,
            "target_c": self.target,
            "time_at_target_s": self.at_target,
            "band_c": TARGET_BAND_C,
        }


class TelemetryRecorder:
    """Buffers one sample per furnace second and writes them in chunks."""

    def __init__(self, run):
        self.run = run
        self.buffer = {name: [] for name in TELEMETRY_CHANNELS}
        self.index = run.telemetry.count()
        self.last_t = None
        self.last_flush = time.monotonic()

    def add(self, t, state):
        values = {
            "t": t,
            "setpoint_a": state.setpoint_a, "temperature_a": state.temperature_a, "power_a": state.power_a,
            "setpoint_b": state.setpoint_b, "temperature_b": state.temperature_b, "power_b": state.power_b,
            "ar_setpoint": state.ar_setpoint, "ar_flow": state.ar_flow,
            "h2_setpoint": state.h2_setpoint, "h2_flow": state.h2_flow,
            "heaters": 1 if state.heaters_enabled else 0,
        }
        for name, value in values.items():
            self.buffer[name].append(round(value, 2) if isinstance(value, float) else value)
        self.last_t = t

    def __len__(self):
        return len(self.buffer["t"])

    def due(self):
        """True at most every CHECK_INTERVAL_S of wall time."""
        now = time.monotonic()
        if now - self.last_flush < CHECK_INTERVAL_S:
            return False
        return True

    def flush(self, driver=None):
        self.last_flush = time.monotonic()
        if len(self):
            TelemetryChunk.objects.create(
                run_id=self.run.pk, index=self.index, t_start=self.buffer["t"][0], t_end=self.buffer["t"][-1],
                data=self.buffer,
            )
            self.index += 1
            self.buffer = {name: [] for name in TELEMETRY_CHANNELS}
            ExperimentRun.objects.filter(pk=self.run.pk).update(simulated_seconds=self.last_t)
        if driver is not None:
            save_furnace_state(self.run.furnace_id, driver)


def save_furnace_state(furnace_id, driver):
    Furnace.objects.filter(pk=furnace_id).update(last_state=driver.snapshot(), state_updated_at=timezone.now())


class StopWatcher:
    """Checks the run's row for a stop command at most every CHECK_INTERVAL_S of wall time."""

    def __init__(self, run):
        self.run_pk = run.pk
        self.next_check = 0.0
        self.stopped_by = None

    def due(self):
        now = time.monotonic()
        if now < self.next_check:
            return False
        self.next_check = now + CHECK_INTERVAL_S
        return True

    def stop_requested(self):
        row = (
            ExperimentRun.objects.filter(pk=self.run_pk)
            .values_list("cancel_requested", "stop_requested_at", "stop_requested_by__username")
            .first()
        )
        if row is None:  # the record is gone: stop safely
            self.stopped_by = "(run record deleted)"
            return True
        cancel, stop_at, username = row
        if cancel or stop_at:
            self.stopped_by = username or "cancellation"
            return True
        return False


class OverTemperature(Exception):
    pass


def _set_phase(run, phase):
    ExperimentRun.objects.filter(pk=run.pk).update(phase=phase)


def execute_run(run, handle):
    """The body of an experiment run (called by core.jobs.run_job on a worker)."""
    furnace = run.furnace
    program = Program(run.program)
    targets = (max(run.program["temperature_a"]["temperature"]), max(run.program["temperature_b"]["temperature"]))
    stats = (ZoneStats(targets[0]), ZoneStats(targets[1]))
    trip_c = furnace.max_temperature_c + furnace.over_temperature_margin_c
    driver = driver_for(furnace)
    recorder = TelemetryRecorder(run)
    watcher = StopWatcher(run)
    handle.log(
        f"started: experiment {run.experiment_code} on furnace {furnace.name} (driver {furnace.driver_path}, "
        f"time x{run.time_acceleration:g}), program {program.duration / 60:g} min"
    )
    driver.connect()
    t = 0.0
    stop_reason = None
    try:
        state = driver.read_state()
        handle.log(f"connected: zone A {state.temperature_a:.1f} °C, zone B {state.temperature_b:.1f} °C")
        _set_phase(run, "program")
        driver.set_heaters_enabled(True)
        handle.log("program running: heaters on")
        while True:
            sp_a, sp_b, ar, h2 = program.at(t)
            driver.set_zone_setpoints(sp_a, sp_b)
            driver.set_flows(ar, h2)
            state = driver.read_state()
            recorder.add(t, state)
            stats[0].add(sp_a, state.temperature_a)
            stats[1].add(sp_b, state.temperature_b)
            if max(state.temperature_a, state.temperature_b) > trip_c:
                raise OverTemperature(
                    f"over-temperature: zone A {state.temperature_a:.1f} °C, zone B {state.temperature_b:.1f} °C "
                    f"(trip at {trip_c:g} °C)"
                )
            if t >= program.duration:
                break
            if watcher.due() or len(recorder) >= FLUSH_MAX_SAMPLES:
                if watcher.stop_requested():
                    stop_reason = f"stop requested by {watcher.stopped_by} at {t / 60:.1f} min"
                    handle.log(stop_reason)
                    break
                handle.progress(0.9 * t / program.duration)
                recorder.flush(driver)
            driver.wait(1.0)
            t += 1.0
        if stop_reason is None:
            handle.log(f"program complete after {t / 60:g} min")
        summary = {"zone_a": stats[0].as_dict(), "zone_b": stats[1].as_dict(), "program_seconds": t}
        _set_phase(run, "shutdown")
        shutdown = safe_shutdown(driver, run, handle, recorder, t, stop_reason or "end of program")
        summary["shutdown"] = shutdown
    except BaseException as exc:
        _emergency_safe_state(driver, run, handle, exc)
        recorder.flush()
        raise
    finally:
        try:
            save_furnace_state(furnace.pk, driver)
        except Exception:
            logger.exception("could not save the state of furnace %s", furnace.name)
        driver.close()
    summary["text"] = _summary_text(summary, stop_reason)
    ExperimentRun.objects.filter(pk=run.pk).update(summary=summary, phase="done", safe_state_confirmed=True)
    _render_video(run, handle)
    if stop_reason:
        raise JobCancelled(f"{stop_reason}; furnace safe")
    return summary


def safe_shutdown(driver, run, handle, recorder, t, reason):
    """H2 off at once, heaters off, Ar purge until both zones are below the safe temperature, Ar off."""
    furnace = run.furnace
    before = driver.read_state()
    driver.safe_state()
    after = driver.read_state()
    handle.log(f"shutdown ({reason}) step 1/4: H2 off: flow {before.h2_flow:.1f} -> {after.h2_flow:.1f} sccm")
    handle.log(
        f"shutdown step 2/4: heaters off: power A {before.power_a:.0f} -> {after.power_a:.0f} W, "
        f"B {before.power_b:.0f} -> {after.power_b:.0f} W"
    )
    handle.log(
        f"shutdown step 3/4: Ar purge at {after.ar_setpoint:g} sccm until both zones are below "
        f"{furnace.safe_temperature_c:g} °C (A {after.temperature_a:.1f} °C, B {after.temperature_b:.1f} °C)"
    )
    ExperimentRun.objects.filter(pk=run.pk).update(safe_state_confirmed=True)
    start = t
    limit = furnace.max_purge_minutes * 60
    state = after
    while max(state.temperature_a, state.temperature_b) >= furnace.safe_temperature_c and t - start < limit:
        driver.wait(1.0)
        t += 1.0
        state = driver.read_state()
        recorder.add(t, state)
        if len(recorder) >= FLUSH_MAX_SAMPLES or recorder.due():
            handle.progress(0.9 + 0.07 * min(1.0, (t - start) / max(limit, 1.0)))
            recorder.flush(driver)
    cooled = max(state.temperature_a, state.temperature_b) < furnace.safe_temperature_c
    if cooled:
        driver.set_flows(0.0, 0.0)
        state = driver.read_state()
        recorder.add(t, state)
        handle.log(
            f"shutdown step 4/4: cooled to A {state.temperature_a:.1f} °C, B {state.temperature_b:.1f} °C "
            f"after {(t - start) / 60:.1f} min of purge; Ar off"
        )
    else:
        handle.log(
            f"shutdown step 4/4: still above {furnace.safe_temperature_c:g} °C after {furnace.max_purge_minutes:g} min; "
            "leaving the Ar purge on"
        )
    recorder.flush(driver)
    handle.progress(0.97)
    return {
        "reason": reason,
        "purge_seconds": t - start,
        "cooled": cooled,
        "final_temperature_a_c": round(state.temperature_a, 2),
        "final_temperature_b_c": round(state.temperature_b, 2),
        "final_h2_sccm": round(state.h2_flow, 3),
        "heaters_enabled": state.heaters_enabled,
    }


def _emergency_safe_state(driver, run, handle, exc):
    if isinstance(exc, JobCancelled):
        return
    try:
        driver.safe_state()
        ExperimentRun.objects.filter(pk=run.pk).update(safe_state_confirmed=True)
        handle.log(f"error ({type(exc).__name__}: {exc}); furnace put in safe state: H2 off, heaters off, Ar purge")
    except Exception as safe_exc:
        handle.log(f"error ({exc}); SAFE STATE FAILED: {safe_exc}; recovery will retry")


def _summary_text(summary, stop_reason):
    parts = []
    for zone in ("a", "b"):
        z = summary[f"zone_{zone}"]
        parts.append(
            f"zone {zone.upper()}: RMS error {z['rms_error_c']} °C, max overshoot {z['max_overshoot_c']} °C, "
            f"{z['time_at_target_s']} s at {z['target_c']:g} °C"
        )
    shutdown = summary["shutdown"]
    safe = (
        f"furnace safe: H2 {shutdown['final_h2_sccm']:g} sccm, heaters off, cooled to "
        f"{max(shutdown['final_temperature_a_c'], shutdown['final_temperature_b_c']):.0f} °C"
    )
    head = f"stopped ({stop_reason})" if stop_reason else "completed"
    return f"{head}; " + "; ".join(parts) + f"; {safe}"


def _render_video(run, handle):

    try:
        handle.log("rendering video")
        name = render_run_video(run)
        ExperimentRun.objects.filter(pk=run.pk).update(video=name)
        handle.log(f"video saved: {name}")
    except Exception as exc:  # the run itself is done and safe; a missing video is reported, not fatal
        logger.exception("video of run %s failed", run.pk)
        handle.log(f"video failed: {type(exc).__name__}: {exc}")


# --- recovery ----------------------------------------------------------------
def make_furnace_safe(furnace):
    """Connect to the furnace's controller and command the safe state. Returns the state dict."""
    driver = driver_for(furnace)
    driver.connect()
    try:
        driver.safe_state()
        state = driver.snapshot()
        Furnace.objects.filter(pk=furnace.pk).update(last_state=state, state_updated_at=timezone.now())
        return state
    finally:
        driver.close()


def fail_stale_runs():
    """Fail running runs whose heartbeat stopped, as core.services.reap_stale_jobs does.

    Done here too so that a furnace's safety never waits on the sweep of every other
    app's jobs. A run is never requeued: restarting a program midway is not safe.
    """
    cutoff = timezone.now() - timedelta(seconds=settings.JOB_STALE_SECONDS)
    failed = 0
    for run in ExperimentRun.objects.filter(status=JobStatus.RUNNING, heartbeat_at__lt=cutoff):
        note = f"worker {run.worker or '?'} lost: no heartbeat since {run.heartbeat_at:%Y-%m-%d %H:%M:%S}"
        failed += ExperimentRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error=note,
            log=Concat(F("log"), Value(f"[recovery] {note}; marked failed\n")),
        )
    return failed


def recover_lost_runs(furnace=None):
    """Put furnaces in the safe state after runs that died with their worker.

    Runs whose heartbeat stopped are failed first (`fail_stale_runs`, the same rule as
    core's reaper). Every worker calls this each WORKER_HEARTBEAT_SECONDS
    (experiments.worker), and starting a run calls it first. A run that
    reached the furnace (phase set) and failed without a confirmed safe state is claimed,
    its furnace commanded safe, and the run's log says so. Returns the number recovered.
    """
    fail_stale_runs()
    lost = ExperimentRun.objects.filter(status=JobStatus.FAILED, safe_state_confirmed=False).exclude(phase="")
    if furnace is not None:
        lost = lost.filter(furnace=furnace)
    recovered = 0
    for run in lost.select_related("furnace"):
        if not ExperimentRun.objects.filter(pk=run.pk, safe_state_confirmed=False).update(safe_state_confirmed=True):
            continue  # another worker took it
        try:
            state = make_furnace_safe(run.furnace)
        except Exception as exc:
            ExperimentRun.objects.filter(pk=run.pk).update(safe_state_confirmed=False)
            logger.error("recovery of furnace %s after run %s failed: %s", run.furnace.name, run.pk, exc)
            continue
        _append_log(
            run,
            f"[recovery] furnace {run.furnace.name} put in safe state after the worker was lost: H2 "
            f"{state['h2_flow']:g} sccm, heaters off, Ar purge {state['ar_setpoint']:g} sccm "
            f"(A {state['temperature_a']:.1f} °C, B {state['temperature_b']:.1f} °C)",
        )
        recovered += 1
        logger.warning("furnace %s made safe after lost run %s", run.furnace.name, run.pk)
    return recovered

