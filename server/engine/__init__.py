"""The projection engine: compose a canvas, project it into a GAN's latent space, edit latents, paste back.

Imports neither grpc nor anything of GIMP. Conventions: at the edges pixels are uint8 RGBA (H, W, 4)
(or opaque RGB (H, W, 3)) numpy arrays and masks uint8 (H, W) with 255 = selected; inside, images are
float32 NCHW tensors in [-1, 1] and masks float32 in [0, 1]. A latent has its model's shape: W+
[N, num_ws, w_dim] (StyleGAN2) or a stylemap [N, C, L, L] (StyleMapGAN); see latents.py.
Errors are the typed ones of `errors.py`; arguments are named after the request fields they come from.
"""
