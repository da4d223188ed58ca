"""``irs provision``, ``irs deploy`` and ``irs teardown``: what IRS needs in an AWS account (or the emulator)."""

from __future__ import annotations

from pathlib import Path

import click

from irs.cli.output import err, out


@click.command()
def provision() -> None:
    """Create the queues, dead-letter queues and buckets (idempotent; works on AWS too)."""
    from irs.aws.provision import BucketTaken
    from irs.aws.provision import provision as run

    try:
        run(say=lambda line: out.print(line, highlight=False, markup=False))
    except BucketTaken as taken:
        raise click.ClickException(str(taken)) from None


@click.command()
@click.option("--stack-name", default="irs", show_default=True)
@click.option("--prefix", default="irs", show_default=True, help="Prefix of every resource name.")
@click.option("--vpc-id", help="VPC of the worker hosts [default: the account's default VPC].")
@click.option("--image-id", default="", help="AMI of worker hosts, made with deploy/worker-image.sh.")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=Path("irs.env"),
              show_default=True, help="Where the stack's outputs are written, as IRS settings.")
@click.option("--source-buckets", default="", help="Buckets the workers may read images from, for jobs and "
              "watches: BUCKET/ (a whole bucket) or BUCKET/PREFIX, comma-separated.")
@click.option("--print-template", is_flag=True, help="Only print the CloudFormation template.")
def deploy(stack_name: str, prefix: str, vpc_id: str | None, image_id: str, env_file: Path, source_buckets: str,
           print_template: bool) -> None:
    """Create or update everything IRS needs in an AWS account, and write its settings to an env file."""
    from irs.deploy.template import dump

    if print_template:
        click.echo(dump(), nl=False)
        return
    from irs.aws import clients
    from irs.deploy.cloudformation import DeployError, write_env
    from irs.deploy.cloudformation import deploy as run_deploy

    if not vpc_id:
        vpcs = clients.client("ec2").describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not vpcs:
            raise click.UsageError("no default VPC: pass --vpc-id")
        vpc_id = vpcs[0]["VpcId"]
    try:
        values = run_deploy(stack_name, {"Prefix": prefix, "VpcId": vpc_id, "WorkerImageId": image_id,
                                         "SourceBuckets": source_buckets},
                            say=lambda line: err.print(line, highlight=False))
    except DeployError as error:
        raise click.ClickException(str(error)) from None
    write_env(values, env_file, stack_name)
    for key, value in values.items():
        out.print(f"{key}={value}", highlight=False)
    err.print(f"settings written to {env_file}")


@click.command()
@click.option("--stack-name", default="irs", show_default=True)
@click.option("--empty-buckets", is_flag=True, help="Also delete the buckets' contents (uploads and results).")
def teardown(stack_name: str, empty_buckets: bool) -> None:
    """Remove the deployment; buckets that hold objects are only emptied with --empty-buckets."""
    from irs.deploy.cloudformation import DeployError
    from irs.deploy.cloudformation import teardown as run_teardown

    try:
        run_teardown(stack_name, empty_buckets, say=lambda line: err.print(line, highlight=False))
    except DeployError as error:
        raise click.ClickException(str(error)) from None
