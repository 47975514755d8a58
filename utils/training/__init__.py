"""What main_ddp's training loop uses besides the model and the datasets.

- config.py: YAML configs, command-line overrides and their validation (every key and default);
- losses.py: the training losses;
- train_utils.py: checkpoint files, EMA, the run summary (all.json) and the wandb logger.
"""
