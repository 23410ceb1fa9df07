"""Execution environments (watchlist_workstation/local/lambda_service/invoker.py, workers.py): concurrency,
timeouts, the deployed environment, layers on the import path, prewarmed workers."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from lib.limits import AWS_MIN_ATTEMPT_SECONDS, DEADLINE_MARGIN_SECONDS, SEND_RESERVE_SECONDS, TEXT_RESERVE_SECONDS
from tests.local_lambda.support import (
    MAX_CONCURRENCY,
    ROOT,
    add_companies,
    consumer,
    counts,
    is_alive,
    log_lines,
    log_size,
    producer,
    send_jobs,
    trickling_endpoint,
    worker_processes,
)
from watchlist_workstation.local.textserver import Scripted

# The shortest timeouts with which the functions still make their first AWS call: every call is bounded by the
# invocation's deadline (docs/design.md rule 11), so a function hangs only on a call it was allowed to start.
CONSUMER_HANGS_AFTER = round(DEADLINE_MARGIN_SECONDS + TEXT_RESERVE_SECONDS + AWS_MIN_ATTEMPT_SECONDS + 1)
PRODUCER_HANGS_AFTER = round(DEADLINE_MARGIN_SECONDS + SEND_RESERVE_SECONDS + AWS_MIN_ATTEMPT_SECONDS + 1)


def test_concurrency_is_capped_by_maximum_concurrency(account, stack, lam):
    # GIVEN 12 companies whose text takes 0.4 s each (4 batches of 3) and MaximumConcurrency 2
    names = [f"Slow Company {i}" for i in range(12)]
    add_companies(account, stack, names)
    for name in names:
        account.text.script(name, Scripted(404, delay=0.4))
    send_jobs(account, stack.QueueUrl, names)
    since = log_size(lam, consumer(lam))
    lam.peak_concurrency.clear()
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.05):
            seen.append(worker_processes(consumer(lam)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    # WHEN the queue is drained
    try:
        report = lam.drain(timeout=60)
    finally:
        done.set()
        watcher.join()
    # THEN two invocations ran at once and never more: as counted by the executor, by the
    # workers' own START/END log lines, and by the number of worker processes alive
    assert (report.batches, report.deleted) == (4, 12)
    assert lam.peak_concurrency[consumer(lam)] == MAX_CONCURRENCY
    open_now = peak = 0
    for line in log_lines(lam, consumer(lam), since):
        open_now += line.startswith("START ") - line.startswith("END ")
        peak = max(peak, open_now)
    assert peak == MAX_CONCURRENCY
    assert max(seen) <= MAX_CONCURRENCY


def test_the_function_timeout_is_enforced(account, stack, lam, change):
    # GIVEN the deployed consumer's timeout lowered and its DynamoDB calls (the first it makes for a message
    # without a snapshot) pointed at a dependency whose answer never ends (one that never answers would not do:
    # the consumer bounds each call by its remaining time, and hands the work back instead of timing out)
    timeout = CONSUMER_HANGS_AFTER
    with trickling_endpoint() as hung:
        env = dict(lam.functions[stack.ConsumerFunctionName].environment, AWS_ENDPOINT_URL_DYNAMODB=hung)
        change.function(stack.ConsumerFunctionName, Timeout=timeout, Environment={"Variables": env})
        send_jobs(account, stack.QueueUrl, ["Hanging Co"])
        since = log_size(lam, consumer(lam))
        # WHEN the batch is processed
        report = lam.poll_once(lam.mappings[0])
    # THEN the invocation was stopped at the timeout, its worker killed, and the batch kept
    assert report.result.timed_out and report.result.error_type == "Sandbox.Timedout"
    assert timeout <= report.result.duration_s < timeout + 2
    assert (report.deleted, report.failed) == (0, 1)
    assert counts(account, stack.QueueUrl) == {"visible": 0, "in_flight": 1}
    assert any(f"Task timed out after {timeout}.00 seconds" in line for line in log_lines(lam, consumer(lam), since))
    assert not is_alive(report.result.worker_pid)


def test_the_invocation_after_a_timeout_gets_a_fresh_worker(account, stack, lam, change):
    # GIVEN the producer (timeout lowered) timed out hanging on SQS, with one company to queue
    with trickling_endpoint() as hung:
        env = dict(lam.functions[stack.ProducerFunctionName].environment, AWS_ENDPOINT_URL_SQS=hung)
        change.function(stack.ProducerFunctionName, Timeout=PRODUCER_HANGS_AFTER, Environment={"Variables": env})
        add_companies(account, stack, ["Any Co"])
        first = lam.fire_schedule()
        # WHEN it is invoked again with nothing to queue (so it never calls SQS)
        account.client("dynamodb").delete_item(TableName=stack.TableName, Key={"name": {"S": "Any Co"}})
        second = lam.fire_schedule()
    # THEN a new worker ran it to success; the one that timed out is gone
    assert first.timed_out and second.ok and second.payload["queued"] == 0
    assert second.worker_pid != first.worker_pid
    assert not is_alive(first.worker_pid)


def test_the_environment_comes_from_the_deployed_function(account, stack, lam, change):
    # GIVEN the deployed producer's QUEUE_URL changed to another queue
    other = account.client("sqs").create_queue(QueueName=f"env-check-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    env = dict(lam.functions[stack.ProducerFunctionName].environment, QUEUE_URL=other)
    change.function(stack.ProducerFunctionName, Environment={"Variables": env})
    add_companies(account, stack, ["Env One", "Env Two"])
    # WHEN the schedule fires
    result = lam.fire_schedule()
    # THEN the producer sent to the queue its deployed environment names, not the stack's work queue; its
    # role grants sqs:SendMessage on the work queue only, so that send is refused (IAM in local mode)
    assert not result.ok and result.error_type == "NothingQueued"
    other_arn = account.client("sqs").get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])
    refused = f"sqs:SendMessage on resource: {other_arn['Attributes']['QueueArn']}"
    assert any(refused in line for line in log_lines(lam, producer(lam)))
    assert counts(account, other)["visible"] == 0
    assert counts(account, stack.QueueUrl)["visible"] == 0


@pytest.fixture(scope="module")
def layered(account, tmp_path_factory) -> Iterator[SimpleNamespace]:
    """A stack from template.yml with its two layers' ContentUri pointing at folders made here, as a
    build would (the shared layer: lib's runtime modules; deps: python-json-logger), each with a
    marker module, so the test does not depend on whether `make build` ran."""
    import pythonjsonlogger

    base = tmp_path_factory.mktemp("layers")
    shared, deps = base / "shared", base / "deps"
    (shared / "python" / "lib").mkdir(parents=True)
    for module in (ROOT / "lib").glob("*.py"):
        shutil.copy(module, shared / "python" / "lib" / module.name)
    shutil.copytree(Path(pythonjsonlogger.__file__).parent, deps / "python" / "pythonjsonlogger")
    (shared / "python" / "marker_shared_layer.py").write_text("")
    (deps / "python" / "marker_deps_layer.py").write_text("")
    text = (ROOT / "template.yml").read_text(encoding="utf-8")
    for name, folder in (("shared", shared), ("deps", deps)):
        needle = f"ContentUri: layers/{name}/"
        assert needle in text
        text = text.replace(needle, f"ContentUri: {folder}/")
    template = base / "template.yml"
    template.write_text(text, encoding="utf-8")
    name = f"layered-{uuid.uuid4().hex[:8]}"
    outputs = account.deploy(name, {}, template)
    with account.lambda_service(name, work_dir=base / "work") as executor:
        executor.discover()
        yield SimpleNamespace(lam=executor, consumer=outputs["ConsumerFunctionName"])


def test_layers_are_on_the_import_path(layered):
    # GIVEN a consumer with the shared and deps layers
    spec = layered.lam.functions[layered.consumer]
    shared, deps = spec.layer_dirs
    # WHEN its worker is asked where it imports from (after an invocation, so the handler is loaded)
    assert layered.lam.invoke(layered.consumer, {"Records": []}).ok
    found = layered.lam.inspect(
        layered.consumer, ["lib", "pythonjsonlogger", "marker_shared_layer", "marker_deps_layer"]
    )
    # THEN the code comes first, then the layers (later layers first, as Lambda overlays them), the project root last
    path = found["sys_path"]
    assert path[:3] == [str(spec.code_dir), str(deps), str(shared)]
    assert path[-1] == str(ROOT)
    assert found["cwd"] == str(spec.code_dir)
    # AND the handler's lib and its logging library come from the layers, not from this checkout
    assert found["modules"]["lib"].startswith(str(shared))
    assert found["modules"]["marker_shared_layer"].startswith(str(shared))
    assert found["modules"]["pythonjsonlogger"].startswith(str(deps))
    assert found["modules"]["marker_deps_layer"].startswith(str(deps))


def test_prewarmed_workers_serve_the_first_invocations(account, stack, tmp_path):
    # GIVEN a fresh executor for the stack, asked to prewarm two workers per mapped function
    with account.lambda_service(work_dir=tmp_path / "work") as executor:
        executor.discover()
        for thread in executor.prewarm(2):
            thread.join()
        producer = executor.workers(stack.ProducerFunctionName)
        warm = producer.idle_pids()
        # WHEN the producer is invoked (an empty watchlist: nothing to queue)
        result = executor.fire_schedule()
        # THEN the prewarmed worker ran it and no new one was started: the scheduled producer got
        # one, the consumer its two
        assert len(warm) == 1 and producer.started == 1
        assert result.ok and result.worker_pid in warm
        assert producer.started == 1
        assert executor.workers(stack.ConsumerFunctionName).started == min(2, MAX_CONCURRENCY)
