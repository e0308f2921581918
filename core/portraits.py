"""Character portraits: a prompt built from the profile, then an image from an OpenAI-compatible images endpoint
(3:4, `b64_json`, the bytes kept) or, with none configured, a locally drawn portrait card that is plainly not a
photograph (a silhouette on a palette taken from the profile's hair, eye and clothing words)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import textwrap
from dataclasses import dataclass

from core.config import Settings, get_settings
from core.errors import GenerationError

SIZE = (1024, 1536)  # 3:4, the design's portrait aspect ratio
CARD_SIZE = (600, 800)
IMAGE_MODEL = "gpt-image-1"
COLOUR_WORDS = {
    "black": (40, 36, 40), "dark": (62, 48, 42), "brown": (110, 74, 46), "chestnut": (120, 62, 36),
    "auburn": (145, 64, 40), "red": (170, 50, 40), "golden": (212, 170, 70), "fair": (222, 196, 140),
    "blond": (228, 204, 130), "blonde": (228, 204, 130), "flaxen": (230, 214, 160), "grey": (150, 150, 155),
    "gray": (150, 150, 155), "white": (235, 232, 225), "silver": (190, 192, 200), "blue": (60, 92, 160),
    "green": (62, 120, 80), "hazel": (140, 110, 60), "pink": (220, 150, 170), "purple": (110, 70, 130),
    "violet": (130, 90, 160), "yellow": (225, 200, 80), "scarlet": (190, 30, 40), "crimson": (160, 20, 50),
    "pale": (230, 220, 205), "rosy": (215, 140, 140), "muslin": (236, 230, 214), "velvet": (90, 30, 50),
}


@dataclass(frozen=True)
class Image:
    data: bytes
    mime_type: str
    width: int
    height: int
    provider: str  # "images-endpoint" or "local-card"
    model: str | None


def build_prompt(profile: dict, *, book_title: str = "", setting: str = "") -> str:
    """The portrait prompt from the profile: who, how they look, their temperament, the period and place."""
    parts = [f"Portrait of {profile.get('name', 'a character')}"
             + (f", {profile['role']} of “{book_title}”" if profile.get("role") and book_title else "") + "."]
    for label, field in (("Appearance", "physical_description"), ("Temperament", "personality")):
        text = re.sub(r"\s+", " ", str(profile.get(field) or "")).strip()
        if text:
            parts.append(f"{label}: {text[:400]}")
    if profile.get("archetypes"):
        parts.append(f"Archetype: {profile['archetypes'][0]}.")
    if setting:
        parts.append(f"Period and setting: {setting[:200]}.")
    parts.append("Painterly character portrait, head and shoulders, 3:4, no text.")
    return "\n".join(parts)


def images_enabled(settings: Settings | None = None) -> bool:
    return (settings or get_settings()).enable_character_images


def generate_image(prompt: str, *, name: str | None = None, archetype: str | None = None,
                   settings: Settings | None = None) -> Image:
    """One portrait from the configured images endpoint, or a local card when none is configured."""
    settings = settings or get_settings()
    if not settings.image_base_url:
        return render_card(prompt, name=name, archetype=archetype)
    from openai import OpenAI, OpenAIError

    # The openai client directly: LangChain's DALL-E wrapper cannot read b64_json answers.
    client = OpenAI(base_url=settings.image_base_url, api_key=settings.image_api_key or "not-needed",
                    max_retries=1, timeout=120)
    try:
        answer = client.images.generate(model=IMAGE_MODEL, prompt=prompt, n=1, size=f"{SIZE[0]}x{SIZE[1]}",
                                        response_format="b64_json")
    except OpenAIError as exc:
        raise GenerationError(f"The images endpoint failed ({type(exc).__name__}: {str(exc)[:200]}); "
                              "no portrait was saved.") from exc
    item = answer.data[0] if answer.data else None
    if item is None or not item.b64_json:
        raise GenerationError("The images endpoint answered without image data (b64_json); no portrait was saved.")
    data = base64.b64decode(item.b64_json)
    width, height, mime = _dimensions(data)
    return Image(data, mime, width, height, "images-endpoint", IMAGE_MODEL)


def _dimensions(data: bytes) -> tuple[int, int, str]:
    from PIL import Image as PILImage, UnidentifiedImageError

    try:
        with PILImage.open(io.BytesIO(data)) as image:
            return image.width, image.height, PILImage.MIME.get(image.format, "image/png")
    except UnidentifiedImageError:
        raise GenerationError("The images endpoint answered with something that is not an image.") from None


def palette(prompt: str) -> list[tuple[int, int, int]]:
    """Colours named in the prompt (hair, eyes, clothing), in the order they appear; a neutral pair if none."""
    words = re.findall(r"[a-z]+", prompt.lower())
    found = list(dict.fromkeys(COLOUR_WORDS[w] for w in words if w in COLOUR_WORDS))
    return found or [(96, 104, 120), (200, 190, 170)]


def render_card(prompt: str, *, name: str | None = None, archetype: str | None = None) -> Image:
    """A stylised portrait card drawn with Pillow: silhouette, palette from the prompt's colour words, name and
    archetype, and the words 'illustrative card' so no one takes it for a likeness."""
    from PIL import Image as PILImage, ImageDraw, ImageFont

    name = name or (re.match(r"Portrait of ([^,.\n]+)", prompt) or [None, "Character"])[1]
    archetype = archetype or (re.search(r"Archetype: ([^.\n]+)", prompt) or [None, ""])[1]
    colours = palette(prompt)
    background, accent = colours[0], colours[1 % len(colours)]
    width, height = CARD_SIZE
    image = PILImage.new("RGB", CARD_SIZE, background)
    draw = ImageDraw.Draw(image)
    seed = int(hashlib.sha256(prompt.encode()).hexdigest()[:8], 16)
    for band in range(12):  # soft diagonal bands, different for every prompt
        shade = tuple(min(255, int(c * (0.85 + 0.03 * ((seed >> band) & 7)))) for c in background)
        draw.polygon([(0, band * 70), (width, band * 70 - 160), (width, band * 70 - 90), (0, band * 70 + 70)],
                     fill=shade)
    figure = tuple(max(0, int(c * 0.35)) for c in accent)
    draw.ellipse([width / 2 - 95, 170, width / 2 + 95, 400], fill=figure)  # head
    draw.rectangle([width / 2 - 30, 380, width / 2 + 30, 450], fill=figure)  # neck
    draw.pieslice([width / 2 - 230, 420, width / 2 + 230, 900], 180, 360, fill=figure)  # shoulders
    draw.rectangle([0, height - 190, width, height], fill=(250, 248, 242))
    font = ImageFont.load_default(size=40)
    small = ImageFont.load_default(size=24)
    draw.text((30, height - 170), textwrap.shorten(name, 26), font=font, fill=(30, 30, 30))
    if archetype:
        draw.text((30, height - 115), textwrap.shorten(archetype, 40), font=small, fill=(80, 80, 80))
    draw.text((30, height - 70), "illustrative card, not a likeness", font=small, fill=(140, 140, 140))
    for i, colour in enumerate(colours[:5]):  # the palette, as swatches
        draw.rectangle([width - 40 - 34 * i, height - 60, width - 14 - 34 * i, height - 34], fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return Image(buffer.getvalue(), "image/png", width, height, "local-card", None)
