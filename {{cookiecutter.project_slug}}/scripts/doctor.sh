#!/bin/bash
# Is this project ready for its first job? Run it on a login node: scripts/doctor.sh
# The checks are in scripts/doctor.py, run with the login node's python3 (no module or venv needed).
cd "$(dirname "$0")/.." && exec python3 scripts/doctor.py "$@"
