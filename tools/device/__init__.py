"""Training on a lent GPU: WebP data packs (``pack_training_data``), the time-budgeted trainer
(``train_device``) and the single call that runs both after a benchmark (``gpu_session.sh``)."""
