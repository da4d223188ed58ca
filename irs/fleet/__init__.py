"""What the fleet says about itself: worker reports and the autoscaler's published state.

Routing, autoscaling, the janitor and the status page all read these; nothing
here decides anything.
"""
