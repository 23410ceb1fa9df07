"""The click group: global options, the shared context, and one place that turns errors into one line."""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Iterator

import click

from lib import __version__
from watchlist_workstation.cli.context import AppContext, CliError, aws_error_message
from watchlist_workstation.cli.logs import send_pipeline_logs_to_stderr
from watchlist_workstation.limits import DEFAULT_STACK_NAME

# What a shell reports for a process that SIGPIPE ended (128 + 13): a reader that stopped early.
PIPE_CLOSED_EXIT = 141


class PipeClosed(click.ClickException):
    """stdout's reader closed the pipe: nothing to say (nobody would read it), exit PIPE_CLOSED_EXIT."""

    exit_code = PIPE_CLOSED_EXIT

    def __init__(self) -> None:
        super().__init__("the pipe on stdout was closed")

    def show(self, file=None) -> None:
        pass


class OneLineUsageError(click.UsageError):
    """A usage error shown as one line (with where to find help), like every other failure."""

    def show(self, file=None) -> None:
        hint = ""
        if self.ctx is not None:
            hint = f" (see '{self.ctx.command_path} {self.ctx.help_option_names[0]}')"
        click.echo(f"Error: {self.format_message()}{hint}", err=True)


@contextlib.contextmanager
def _one_line_usage(ctx: click.Context) -> Iterator[None]:
    """click prints usage errors as usage, hint, blank line and message; docs/design.md rule 10 wants one line."""
    try:
        yield
    except OneLineUsageError:
        raise
    except click.UsageError as exc:
        raise OneLineUsageError(exc.format_message(), exc.ctx or ctx) from None


class OneLineUsageCommand(click.Command):
    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _one_line_usage(ctx):
            return super().parse_args(ctx, args)


class PipelineGroup(click.Group):
    # Every command added with @cli.command reports usage errors in one line too.
    command_class = OneLineUsageCommand

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _one_line_usage(ctx):
            return super().parse_args(ctx, args)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        with _one_line_usage(ctx):
            return super().resolve_command(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except OneLineUsageError:
            raise
        except click.UsageError as exc:
            # Raised by a command's own checks (options that contradict each other): one line too.
            raise OneLineUsageError(exc.format_message(), exc.ctx or ctx) from None
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except BrokenPipeError:
            # Whoever read stdout has gone (`| head`): not an error of the command; main() ends quietly.
            raise PipeClosed() from None
        except Exception as exc:
            verbose = bool(ctx.obj and ctx.obj.verbose)
            message = aws_error_message(exc)
            if verbose or message is None:
                # A bug (or --verbose): show where, then still end with one clear line.
                click.echo(traceback.format_exc().rstrip(), err=True)
            if message is None:
                message = f"unexpected error: {type(exc).__name__}: {exc} (run with --verbose for details)"
            raise CliError(message) from exc


@click.group(cls=PipelineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cfcli")
@click.option(
    "--stack-name",
    envvar="CFCLI_STACK_NAME",
    default=DEFAULT_STACK_NAME,
    show_default=True,
    help="CloudFormation stack to work on (env CFCLI_STACK_NAME).",
)
@click.option(
    "--region", envvar="CFCLI_REGION", help="AWS region (default: the SDK's, e.g. AWS_DEFAULT_REGION or the profile's)."
)
@click.option("--profile", envvar="CFCLI_PROFILE", help="Named AWS profile.")
@click.option("--endpoint-url", envvar="CFCLI_ENDPOINT_URL", help="Send every AWS call here (an emulator).")
@click.option("--verbose", "-v", is_flag=True, help="JSON diagnostics and tracebacks on stderr.")
@click.option("--local", is_flag=True, help="Work on the local stack that './cfcli.py local up' runs.")
@click.pass_context
def cli(
    ctx: click.Context,
    stack_name: str,
    region: str | None,
    profile: str | None,
    endpoint_url: str | None,
    verbose: bool,
    local: bool,
):
    """Deploy the watchlist sentiment pipeline, manage its watchlist, read its results, tear it down."""
    ctx.obj = AppContext(
        stack_name=stack_name, region=region, profile=profile, endpoint_url=endpoint_url, verbose=verbose, local=local
    )
    # The pipeline's JSON log lines (from code the CLI runs in-process) go to stderr.
    send_pipeline_logs_to_stderr(logging.DEBUG if verbose else logging.WARNING)
