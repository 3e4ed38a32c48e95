"""Training that checkpoints before the time limit and resumes, for DRAC's clusters: README.md."""
