"""Testing code that uses IRS: the whole classify path in process, with AWS mocked and no broker or worker."""
