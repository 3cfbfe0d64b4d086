"""The `cutout` command: cut-outs and the local server (main.py), scores on dataset folders
(evaluation.py), and the account administration commands (admin.py)."""
