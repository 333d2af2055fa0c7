"""Training on a lent GPU: WebP data packs (``pack_training_data``), the time-budgeted trainers
(``train_device``, ``train_lite_device``: the library's training loop with device defaults) and the single call that runs both after a benchmark (``gpu_session.sh``)."""
