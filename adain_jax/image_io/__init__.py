"""Image I/O: the only sub-system that touches PIL or uint8.

Everything handed to the rest of the library is float32 in [0, 1]: images (H, W, 3), masks
(H, W). Decoding (:mod:`.decode`), the resamplers (:mod:`.resample`) and atomic encoding
(:mod:`.encode`) live in their own modules; this package re-exports their public API.
"""
from adain_jax.image_io.decode import (FORMATS, IMAGE_SUFFIXES, MAX_IMAGE_BYTES, MAX_PIXELS,
                                       REDUCING_GAP, check_pixels, check_size, decode_bytes,
                                       is_pil_image, list_images, load_image, load_mask, to_float,
                                       to_float_rgb, to_working_size, working_shape)
from adain_jax.image_io.encode import save_grid, save_image, to_uint8
from adain_jax.image_io.limits import check_file
from adain_jax.image_io.resample import resize_float, resized_window, shorter_side_shape

__all__ = [
    "IMAGE_SUFFIXES", "MAX_PIXELS", "list_images", "load_image", "load_mask", "decode_bytes",
    "to_float", "to_uint8", "save_image", "save_grid", "shorter_side_shape", "resize_float",
    "resized_window", "check_size", "check_pixels", "to_float_rgb", "is_pil_image", "FORMATS",
    "MAX_IMAGE_BYTES", "REDUCING_GAP", "check_file", "to_working_size", "working_shape",
]
