"""The `abby` command line: Typer front end over the core. Rendering only, no business rules."""
