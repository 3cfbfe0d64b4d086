"""The `cutout` command: cut-outs, the local server and evaluation (main.py), and the
account administration commands (admin.py)."""
