"""The command line (python -m core, the tollgate command): main in core.cli.main, one module per command group."""
