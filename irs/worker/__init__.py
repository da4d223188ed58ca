"""A worker host's code: the task's helpers, recognition and its models, images, and the worker's life on the fleet."""
