"""Deploying IRS to AWS: the CloudFormation template and the deploy and teardown commands."""
