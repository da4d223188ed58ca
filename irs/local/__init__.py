"""The local stack (``irs up``): the emulator and every IRS process on this machine, supervised together."""
