"""The autoscaler: policy.py decides, reconcile.py joins hosts and reports, providers/ act, controller.py loops,
sim/ replays."""
