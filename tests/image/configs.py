"""configs.py — preprocessor_config.json variants the pixels tests run, as a researcher's model
folders have them. FULL: real checkpoint settings (CLIP ViT-L/14 at 224 and 336 as LLaVA-1.5
uses, SigLIP at 384, LLaVA pad-to-square, a bilinear CLIP). SMALL: the same processors at small
sizes for the committed transformers fixtures (odd sizes so crop offsets round)."""
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


def clip(shortest, crop, resample=3, **extra):
    c = {"image_processor_type": "CLIPImageProcessor", "do_resize": True,
         "size": {"shortest_edge": shortest}, "resample": resample, "do_center_crop": True,
         "crop_size": {"height": crop, "width": crop}, "do_rescale": True,
         "rescale_factor": 0.00392156862745098, "do_normalize": True, "image_mean": CLIP_MEAN,
         "image_std": CLIP_STD, "do_convert_rgb": True}
    c.update(extra)
    return c


def siglip(h, w):
    return {"image_processor_type": "SiglipImageProcessor", "do_resize": True,
            "size": {"height": h, "width": w}, "resample": 3, "do_rescale": True,
            "rescale_factor": 0.00392156862745098, "do_normalize": True,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}


def llava_pad(shortest, crop):
    return clip(shortest, crop, image_processor_type="LlavaImageProcessor", do_pad=True)


FULL = {
    "clip224": clip(224, 224),
    "clip336": clip(336, 336),
    "siglip384": siglip(384, 384),
    "llava_pad336": llava_pad(336, 336),
    "clip_bilinear": clip(72, 64, resample=2),
}
SMALL = {
    "clip33c24": clip(33, 24),
    "siglip24x20": siglip(24, 20),
    "llava_pad30c24": llava_pad(30, 24),
    "clip20c24": clip(20, 24),  # crop larger than the resized image: zero padding
}
