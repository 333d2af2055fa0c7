"""Hardening evidence (``docs/security/``): the fuzzer (``fuzz``) and kill -9 trials of
training (``kill_trials``)."""
