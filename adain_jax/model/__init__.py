"""The models: a registry of entries (:mod:`.registry`: name, params built/loaded/checked,
encoder, decoder; :func:`of` tells which model a params tree holds), the two shipped ones
(:mod:`.adain`, :mod:`.lite`) and the one AdaIN forward pass every path runs
(:mod:`.forward`). Adding a model is one module that calls ``registry.register``."""
from adain_jax.model import adain, lite  # noqa: F401 - registers the shipped models, in order
from adain_jax.model.registry import (Model, default, find, get, names, of, of_trained,
                                      register, unregister)
from adain_jax.model.registry import whole_file_model
from adain_jax.weights import load as _weights_load

_weights_load.set_model_finder(whole_file_model)

__all__ = ["Model", "register", "unregister", "names", "default", "get", "find", "of",
           "of_trained", "whole_file_model"]
