"""What several test modules use: helpers here, fixtures in the conftest files."""
