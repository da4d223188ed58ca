"""The autoscaler's simulator: the real policy against a simulated fleet, baselines to compare, timelines to look at."""
