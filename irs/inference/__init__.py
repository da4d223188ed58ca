"""What every process may use to read images and run Darknet models: decoding, conversion, runtimes, the registry."""
