# shellcheck shell=bash
# Slurm account for sbatch, salloc and srun (DRAC: Running_jobs). These variables take
# priority over "#SBATCH --account" lines; pass --account on the command line to override.
export SLURM_ACCOUNT={{ drac.job(cookiecutter).account | shquote }}
export SBATCH_ACCOUNT="$SLURM_ACCOUNT"
export SALLOC_ACCOUNT="$SLURM_ACCOUNT"
# One Hugging Face cache for the login node (where models are downloaded) and for jobs (job.sh).
export HF_HOME="${HF_HOME:-{{ drac.cluster(cookiecutter.cluster).hf_home }}}"
# The wiki's Huggingface page: hf_xet "leads to failures on our systems"; download with
#   hf download --max-workers=1 <repo>     (hf comes with huggingface_hub)
export HF_HUB_DISABLE_XET=1
