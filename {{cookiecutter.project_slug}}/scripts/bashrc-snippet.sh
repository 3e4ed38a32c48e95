# shellcheck shell=bash
# Slurm account for sbatch, salloc and srun (DRAC: Running_jobs). These variables take
# priority over "#SBATCH --account" lines; pass --account on the command line to override.
export SLURM_ACCOUNT={{ drac.job(cookiecutter).account | shquote }}
export SBATCH_ACCOUNT="$SLURM_ACCOUNT"
export SALLOC_ACCOUNT="$SLURM_ACCOUNT"
