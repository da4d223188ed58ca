"""Everything that speaks AWS: clients, queues, S3 documents, the results feed, provisioning, the emulator."""
