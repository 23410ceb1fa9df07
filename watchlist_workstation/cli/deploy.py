"""Commands that create and destroy the stack: make-infra, teardown, artifact-bucket.

Thin over the steps in watchlist_workstation/deploy/: artifacts (the stack's artifact bucket), sam (`sam
deploy`), stack_status (whether CloudFormation would accept a deploy now), teardown, and build (the
Docker-free build). Progress and sam's own output go to stderr; stdout carries only the data: the stack's
outputs, a bucket name.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import click
import yaml

from watchlist_workstation import project
from watchlist_workstation.cli.app import cli
from watchlist_workstation.cli.context import AppContext, CliError, emit_json, emit_table, is_interactive, note
from watchlist_workstation.cli.progress import Steps, stage
from watchlist_workstation.deploy import artifacts, sam
from watchlist_workstation.deploy import teardown as teardown_steps
from watchlist_workstation.deploy.stack_status import deploy_blocker

# watchlist_workstation.deploy.build and watchlist_workstation.deploy.template (samtranslator: about a second to
# import) are imported by the commands that use them, so every other command starts without paying for them.

ROOT, TEMPLATE = project.ROOT, project.TEMPLATE
# Where `make build` and make-infra put the bundles, and where the per-stack record lives (gitignored).
BUILD_DIR = project.work_dir() / "build"
STATE_DIR = project.work_dir() / ".cfcli"


def _template_parameters() -> dict[str, Any]:
    from watchlist_workstation.deploy.template import TemplateError, load_template

    try:
        return load_template(TEMPLATE).get("Parameters") or {}
    except (OSError, TemplateError, yaml.YAMLError) as exc:
        raise CliError(f"cannot read {TEMPLATE}: {exc}") from exc


def parse_parameters(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """KEY=VALUE pairs, each KEY a parameter of template.yml, so a typo fails here rather than in CloudFormation."""
    if not values:
        return {}
    known = _template_parameters()
    parsed: dict[str, str] = {}
    for value in values:
        key, sep, setting = value.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{value!r} is not KEY=VALUE", ctx=ctx, param=param)
        if key not in known:
            raise click.BadParameter(
                f"{key} is not a parameter of template.yml (it has: {', '.join(sorted(known))})", ctx=ctx, param=param
            )
        if key in parsed:
            raise click.BadParameter(f"{key} is given twice", ctx=ctx, param=param)
        try:
            sam.sam_parameter(key, setting)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
        parsed[key] = setting
    return parsed


def missing_required(parameters: dict[str, str], stack: dict[str, Any] | None) -> list[str]:
    """Parameters of template.yml without a default that neither `parameters` nor the deployed stack gives a value.

    sam deploy keeps an existing stack's value for a parameter not given (UsePreviousValue), so only a new
    stack, or one deployed before the parameter existed, needs it on the command line.
    """
    current = {p["ParameterKey"] for p in (stack or {}).get("Parameters", [])}
    return sorted(
        name
        for name, spec in _template_parameters().items()
        if "Default" not in spec and name not in parameters and name not in current
    )


def refuse_what_the_rules_refuse(
    stack_name: str, parameters: dict[str, str], stack: dict[str, Any] | None, region: str
) -> None:
    """Evaluate template.yml's Rules for the values the deploy would use (given, else the stack's, else the
    defaults), so a refusal comes now, in one line, rather than from CloudFormation after the build."""
    from watchlist_workstation.deploy import rules
    from watchlist_workstation.deploy.template import load_template

    declared = _template_parameters()
    values = {name: str(spec["Default"]) for name, spec in declared.items() if "Default" in (spec or {})}
    values |= {p["ParameterKey"]: p.get("ParameterValue", "") for p in (stack or {}).get("Parameters", [])}
    values |= parameters
    try:
        rules.check(load_template(TEMPLATE), values, region)
    except rules.RuleViolation as exc:
        raise CliError(f"stack {stack_name} cannot be deployed to {region}: {exc}") from exc
    except rules.RuleError as exc:
        raise CliError(f"cannot check the rules of {TEMPLATE}: {exc}") from exc


def parameter_option(help_text: str):
    """--parameter/-p KEY=VALUE (repeatable), checked against template.yml's parameters."""
    return click.option(
        "--parameter",
        "-p",
        "parameters",
        multiple=True,
        metavar="KEY=VALUE",
        callback=parse_parameters,
        help=help_text,
    )


def _region(app: AppContext) -> str:
    # session() has already failed with one line when there is no region.
    return str(app.session().region_name)


def _show_outputs(outputs: dict[str, str], as_json: bool) -> None:
    if as_json:
        emit_json(outputs)
    else:
        emit_table([{"output": k, "value": v} for k, v in sorted(outputs.items())], ["output", "value"])


def _build() -> dict[str, Any]:
    from watchlist_workstation.deploy import build as builder
    from watchlist_workstation.deploy.build_errors import BuildError, BundleTooLargeError
    from watchlist_workstation.deploy.sizes import format_table

    note(f"building {BUILD_DIR} (layers, functions, template)")
    try:
        report = builder.build(ROOT, BUILD_DIR)
    except BundleTooLargeError as exc:
        note(format_table(exc.report))
        raise CliError(f"build failed: {exc}") from exc
    except (BuildError, OSError, yaml.YAMLError) as exc:
        raise CliError(f"build failed: {exc}") from exc
    note(format_table(report))
    return report


def _artifact_bucket(app: AppContext) -> str:
    bucket, created = artifacts.ensure_artifact_bucket(app.client("s3"), app.stack_name, _region(app), STATE_DIR)
    if created:
        note(f"created artifact bucket {bucket} (tagged {artifacts.TAG_STACK}={app.stack_name})")
    else:
        note(f"using artifact bucket {bucket}")
    return bucket


@cli.command("artifact-bucket")
@click.option("--json", "as_json", is_flag=True, help="Print {bucket, created} as JSON.")
@click.pass_obj
def artifact_bucket(app: AppContext, as_json: bool) -> None:
    """Print the stack's artifact bucket (for sam's uploads), creating it on first use.

    The bucket is named <stack>-artifacts-<8 hex>, blocks public access, encrypts, accepts TLS
    only, expires old artifacts, and is tagged with the stack; its name is kept in .cfcli/.
    """
    app.session()
    records, _ = _machine_paths(app)
    bucket, created = artifacts.ensure_artifact_bucket(app.client("s3"), app.stack_name, _region(app), records)
    note(f"{'created' if created else 'using'} artifact bucket {bucket} for stack {app.stack_name}")
    if as_json:
        emit_json({"bucket": bucket, "created": created})
    else:
        click.echo(bucket)


@cli.command("make-infra")
@parameter_option(
    "A template parameter, e.g. NotificationEmail=you@example.com (repeatable). "
    "Parameters not given keep the stack's current values."
)
@click.option("--json", "as_json", is_flag=True, help="Print the stack outputs as JSON.")
@click.pass_obj
def make_infra(app: AppContext, parameters: dict[str, str], as_json: bool) -> None:
    """Build, upload and deploy the stack with the SAM CLI, then print its outputs.

    Steps: check the SAM CLI and the credentials, build build/ (sizes on stderr), ensure the
    artifact bucket, run `sam deploy` (its output streams to stderr), print the outputs. A re-run
    with nothing changed says the stack is up to date. `sam deploy` has no --endpoint-url; the
    global --endpoint-url reaches it as AWS_ENDPOINT_URL. With --local, template.yml goes to the
    running local stack without sam (see _deploy_local).
    """
    if app.local:
        _deploy_local(app, parameters, as_json)
        return
    sam_cli = sam.find_sam()
    if sam_cli is None:
        raise CliError("the SAM CLI is not installed: run 'make install'")
    region = _region(app)
    stage("[1/4] checking the credentials and the stack")
    account = app.client("sts").get_caller_identity()["Account"]
    note(f"deploying stack {app.stack_name} to account {account} in {region}")
    stack = app.describe_stack()
    blocker = deploy_blocker(stack)
    if blocker:
        raise CliError(blocker)
    missing = missing_required(parameters, stack)
    if missing:
        # Before the build: CloudFormation would refuse the change set for the same reason, minutes later.
        hint = " (your URL or e-mail address: Wikimedia asks every client for one)"
        hint = hint if "UserAgentContact" in missing else ""
        raise click.UsageError(
            f"stack {app.stack_name} needs a value for {', '.join(missing)}: "
            f"pass -p {missing[0]}=VALUE{hint}; see docs/deploying.md"
        )
    refuse_what_the_rules_refuse(app.stack_name, parameters, stack, region)

    stage("[2/4] building build/: layers, functions, template")
    report = _build()
    stage("[3/4] finding the artifact bucket sam uploads the code and the template to")
    bucket = _artifact_bucket(app)
    argv = sam.sam_deploy_argv(
        sam_cli,
        template=Path(report["out"]) / report["template"],
        stack_name=app.stack_name,
        bucket=bucket,
        region=region,
        profile=app.profile,
        parameters=parameters,
    )
    stage("[4/4] sam deploy: it uploads, then prints the stack's events as CloudFormation reports them")
    note(f"running: {shlex.join(argv)}")
    result = sam.run_sam(argv, env=sam.sam_environment(app.endpoint_url), cwd=project.work_dir(), on_line=note)
    if result.returncode != 0:
        raise CliError(
            f"sam deploy failed for stack {app.stack_name} (exit {result.returncode}): {result.failure_reason()}"
        )
    if result.up_to_date:
        note(f"stack {app.stack_name} is up to date")
    else:
        note(f"stack {app.stack_name} deployed")
    _show_outputs(app.outputs(), as_json)


def _deploy_local(app: AppContext, parameters: dict[str, str], as_json: bool) -> None:
    """make-infra --local: create or update the stack in the running local stack from template.yml.

    sam cannot deploy to the emulator (moto cannot run its change sets), so this is the offline
    deploy local mode creates its stack with (watchlist_workstation.deploy.offline): the SAM transform here, code
    uploaded to the emulated S3 under content-derived keys, then CreateStack, UpdateStack when
    the template, the code or a parameter changed, or nothing ("up to date"). Parameters not
    given keep the stack's values, as with sam. No build/ and no artifact bucket of the stack's
    own: the local account has one shared bucket for code.
    """
    from watchlist_workstation.deploy.offline import sync_offline
    from watchlist_workstation.deploy.rules import RuleError, RuleViolation
    from watchlist_workstation.deploy.template import TemplateError
    from watchlist_workstation.local import catalog
    from watchlist_workstation.local.stack import ARTIFACT_BUCKET

    endpoints = app.local_endpoints()  # one line and exit 1 when no local stack runs
    region = _region(app)
    note(f"deploying stack {app.stack_name} to the local stack at {endpoints.aws} (template.yml, without sam)")
    blocker = deploy_blocker(app.describe_stack())
    if blocker:
        raise CliError(blocker)
    stage("transforming template.yml, uploading the code, then creating or updating the stack and waiting for it")
    try:
        deployment = sync_offline(
            app.stack_name,
            parameters,
            defaults=endpoints.stack_parameters(),
            region=region,
            artifact_bucket=ARTIFACT_BUCKET,
            cloudformation=app.client("cloudformation"),
            s3=app.client("s3"),
            template_path=TEMPLATE,
        )
    except RuleViolation as exc:
        raise CliError(f"stack {app.stack_name} cannot be deployed to {region}: {exc}") from exc
    except (OSError, TemplateError, RuleError, yaml.YAMLError) as exc:
        raise CliError(f"cannot deploy {TEMPLATE}: {exc}") from exc
    # moto's CloudFormation skips the Glue and Athena resources; local mode makes them from the template.
    catalog.apply(app.client("cloudformation"), app.client("glue"), app.client("athena"), app.stack_name)
    done = {"created": "created", "updated": "updated", "unchanged": "is up to date"}[deployment.action]
    note(f"stack {app.stack_name} {done}")
    _show_outputs(deployment.outputs, as_json)


def _machine_paths(app: AppContext) -> tuple[Path, Path | None]:
    """(folder of the artifact bucket records, build folder) of the account the command works on. The
    checkout's .cfcli/ and build/ belong to the AWS deployment; the local account keeps its records
    in its state folder and has no build (make-infra --local deploys without one)."""
    if app.local:
        from watchlist_workstation.local.stack import default_state_dir

        return default_state_dir() / "cfcli", None
    return STATE_DIR, BUILD_DIR


@cli.command()
@click.option("--yes", "-y", is_flag=True, help="Delete without asking (needed when stdin is not a terminal).")
@click.pass_obj
def teardown(app: AppContext, yes: bool) -> None:
    """Delete the stack and everything it created; touch nothing else.

    In order: disable the schedule, empty the results bucket (every version), delete this stack's
    artifact bucket, delete the stack and wait, delete its leftover log groups, remove build/ and
    the local record. With RetainData=true the table and results bucket are kept. Safe to re-run.
    With --local, the local stack's saved watchlist and results mirror go too (not build/ or .cfcli/).
    """
    region = _region(app)
    stack = app.describe_stack()
    record_dir, build_dir = _machine_paths(app)
    plan = teardown_steps.plan_teardown(
        stack=stack,
        stack_name=app.stack_name,
        region=region,
        cloudformation=app.client("cloudformation"),
        s3=app.client("s3"),
        logs=app.client("logs"),
        state_dir=record_dir,
        build_dir=build_dir,
        saved_state=app.local_state_paths(),
    )
    if plan.nothing_to_delete:
        for path in plan.local_paths:
            teardown_steps.remove_local_path(path)  # a record of buckets that no longer exist
        note(f"nothing to delete: stack {app.stack_name} does not exist in {region}")
        return
    if not yes:
        if not is_interactive():
            raise CliError("refusing to delete without --yes (stdin is not a terminal)")
        note("teardown will delete:")
        for line in plan.summary():
            note(f"  - {line}")
        click.confirm(f"Delete stack {app.stack_name} and its data?", abort=True, err=True)
    try:
        with Steps() as steps:
            teardown_steps.execute_teardown(
                plan,
                cloudformation=app.client("cloudformation"),
                s3=app.client("s3"),
                events=app.client("events"),
                logs=app.client("logs"),
                report=steps.line,
                count=steps.count,
            )
    except teardown_steps.TeardownError as exc:
        raise CliError(f"{exc}; fix that and run teardown again") from exc
    note(f"teardown of stack {app.stack_name} complete")
