"""Release artefacts: model card, README grid, demo images, quality report, VGG normalisation
constants, weight conversion."""
