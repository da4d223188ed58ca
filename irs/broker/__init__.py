"""Celery on SQS and S3: the app, its transports (plain and with monitoring), and the result backend."""
