"""The command line (python -m core, the tollgate command); main lives in core.cli.main."""
