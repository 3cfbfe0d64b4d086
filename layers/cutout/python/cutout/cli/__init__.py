"""The `cutout` command (docs/cli.md): main (the root parser and exit statuses), arguments
(remove's and serve's options and help), remove (files, folders, streams), paths (inputs and
result names), batch (the pool, progress bar and summary), watch (--watch), serve (the HTTP
API, --workers), evaluation (eval: dataset folders), admin (table, keys)."""
