"""The `basketry` command: one entry point dispatching to each component's subcommands."""
