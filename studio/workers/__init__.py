"""The one bridge between the Qt pages and the engines: `job` (Job, JobContext, ModelHost), `model_jobs` (the job
functions the pages start), `oversight_jobs` (the Oversight page's), `config_fields` (a run kind's settings form).
"""
