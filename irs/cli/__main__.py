from irs.cli.main import main

main()
