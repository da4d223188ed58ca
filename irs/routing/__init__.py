"""Routing: which pool answers a request sooner.

policy.py decides, observe.py watches the pools, router.py plugs the decision into Celery.
"""
