"""The autoscaler: policy.py decides, providers/ act, controller.py loops, simulate.py replays."""
