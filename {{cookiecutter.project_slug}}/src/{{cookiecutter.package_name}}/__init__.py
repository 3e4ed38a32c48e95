"""Training that checkpoints before the time limit and resumes, for DRAC's clusters.

Make a data set, then train on it:

    python -m {{ cookiecutter.package_name }}.make_dataset data/dataset.tar
    python -m {{ cookiecutter.package_name }}.train --data-dir DIR --run-dir DIR
"""

__version__ = "0.1.0"
