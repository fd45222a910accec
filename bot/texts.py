"""Every user-facing string of the bot, in one place, in English (the gettext msgids).

Each string is marked with ``N_`` for extraction and translated when it is read:
``texts.START`` is the current language's text (see :mod:`bot.i18n`; the language is
set per update and per job). ``bot/locales/ru/LC_MESSAGES/bot.po`` has the Russian.
"""

from __future__ import annotations

from .i18n import N_, gettext, ngettext

START = N_(
    "Hi! I turn your photos into paintings with neural style transfer.\n"
    "Send me a photo, then pick a painting (e.g. The Starry Night) or send a second photo as your own style."
)
HELP = N_(
    "How to use me:\n"
    "1. Send a photo (as a photo, or as a file for full quality), a video, a GIF or a round video message.\n"
    "2. Pick a style: one of the presets (/styles) or \"My own style\" and send a second photo.\n"
    "   Tip: an album of two photos = content + style.\n"
    "3. Pick a method: Fast (AdaIN), Preset net (Johnson) or Best quality (Gatys, slower).\n"
    "Then rate the result and use the buttons to make it stronger, weaker, keep your colours or try another style.\n\n"
    "/styles - the preset paintings\n/settings - default method, strength, colours, size\n"
    "/cancel - stop what is going on\n/survey - rate 10 pictures to compare the methods\n"
    "/stats - how people rate the results\n"
    "/forget - delete everything I store about you\n/help - this text"
)
_COMMANDS = [
    ("start", N_("What this bot does")),
    ("help", N_("How to use it")),
    ("styles", N_("The preset paintings")),
    ("settings", N_("Method, strength, colours, size, language")),
    ("cancel", N_("Stop the current request")),
    ("survey", N_("Rate 10 pictures to compare the methods")),
    ("stats", N_("Ratings survey")),
    ("forget", N_("Delete my data")),
]

STYLES_INTRO = N_("These are the presets. Send me a photo and pick one of them.")
CHOOSE_STYLE = N_("Nice photo! Pick a style, or choose \"My own style\" and send a painting.")
CHOOSE_STYLE_VIDEO = N_(
    "Nice clip ({seconds:.0f} s{trim})! Pick a style, or choose \"My own style\" and send a "
    "painting. Videos are painted with the fast methods."
)
VIDEO_TRIM_NOTE = N_("; I will paint the first {limit:.0f} s")
VIDEO_NO_METHOD = N_(
    "I can't paint videos in that style here: videos need the Fast method or a preset net. "
    "Pick one of the presets with a preset net, or send a photo."
)
STYLE_MUST_BE_PICTURE = N_("For the style I need a picture (a painting or any photo), not a video.")
BAD_VIDEO = N_("I couldn't use that video: {reason}. Please send another one (MP4 works best).")
SEND_OWN_STYLE = N_("OK, send me the style image (a painting or any picture) as a photo or a file.")
STYLE_RECEIVED = N_("Got your style image.")
CHOOSE_METHOD = N_("Style: {style}. Which method?")
CANCELLED = N_("Cancelled. Send me a new photo whenever you like.")
NOTHING_TO_CANCEL = N_("There is nothing to cancel. Send me a photo to start.")
QUEUED = N_("⏳ Queued: position {position}. I will update this message.")
RUNNING = N_("🎨 Painting ({method})… {bar} {percent}%")
RUNNING_VIDEO = N_("🎨 Painting ({method})… frame {frame} of {frames} {bar}{eta}")
ETA = N_(" · about {left} left")
STARTING = N_("🎨 Starting ({method})…")
DONE_STATUS = N_("✅ Done in {seconds:.0f} s.")
FAILED_STATUS = N_("❌ Sorry, that did not work: {reason}")
INTERNAL_FAILURE = N_("something went wrong on my side")
WORKER_DIED = N_("the painting process crashed; please try again")
SEND_FAILED = N_("I painted it but could not send it to you; please send the photo again")
CANCELLED_STATUS = N_("✖ Cancelled.")
RESULT_CAPTION = N_("{style} · {method} · strength {alpha:.2f}{colors} · {seconds:.0f} s")
KEEP_COLORS_SUFFIX = N_(" · your colours")
#: after the strength in the caption when the brush is not the medium one
BRUSH_SUFFIX = N_(" · {brush} strokes")
TEXTURE_SUFFIX = N_(" · on canvas")
TRIMMED_SUFFIX = N_(" · the first {seconds:.0f} s")
RATE_PROMPT = N_("Rate it 1–10, or change it:")
RATED = N_("Thanks! You rated it {score}/10.")
RERATED = N_("Updated your rating to {score}/10.")
ALREADY_STRONGEST = N_("Already at full strength. Try another style or Best quality.")
ALREADY_WEAKEST = N_("Already at the weakest setting.")
ALREADY_BOLDEST = N_("These are already the biggest strokes.")
ALREADY_FINEST = N_("These are already the finest strokes.")
COLORS_ALREADY = N_("Your colours are already kept for this one.")

BUSY = N_(
    "I'm very busy right now ({queued} waiting). I kept your photos: "
    "please tap the button again in a few minutes."
)
USER_LIMIT = N_(
    "You already have {count} waiting. I kept your photos: tap the button again "
    "when one of them is done (or /cancel them)."
)

STALE_BUTTON = N_("This button is out of date.")
ALREADY_DONE = N_("I already made (or am making) that version; see the messages below.")
NO_PHOTO = N_("I no longer have that photo. Please send it again.")
METHOD_UNAVAILABLE = N_("That method is not available for this style.")

SETTINGS = N_(
    "Your defaults:\n"
    "Method: {method}\nStrength (alpha): {alpha:.2f}\nBrush: {brush}\nCanvas texture: {texture}\n"
    "Keep my colours: {colors}\nOutput size: {size} px\n"
    "Language: {language}\n"
    "Tap to change."
)
YES = N_("yes")
NO = N_("no")
SETTINGS_SAVED = N_("Saved.")

STATS_TITLE = N_("📊 Ratings survey")
STATS_NONE = N_("No ratings yet. Rate a result to start the survey!")
ADMIN_STATUS = N_("Admin: {queued} queued, running job {running}, inference process {alive} ({restarts} restarts)")
STATS_ALL = N_("All results")
STATS_BY_METHOD = N_("By method:")
STATS_BY_PRESET = N_("By preset:")
STATS_YOURS = N_("Your ratings")
STATS_SURVEY = N_("/survey (method hidden):")
STATS_SURVEY_PARTIAL = N_(
    "({k} of these answers were drawn among fewer methods: the slower pictures were still being painted)"
)

SURVEY_INTRO = N_(
    "The survey: {n} pictures, each painted from a photo and a painting by one of my methods. Which method "
    "painted a picture stays secret, so that the methods are compared fairly.\n"
    "Rate each from 1 to 10: how well was the painting's style transferred? You can skip a picture, stop, "
    "and continue later with /survey."
)
SURVEY_ITEM = N_(
    "Picture {k} of {n}: {content} in the style of {style}.\n"
    "Left: the photo and the painting; right: the result. How well was the style transferred? "
    "(1 = not at all, 10 = perfectly)"
)
SURVEY_SKIP_BUTTON = N_("Skip")
SURVEY_STOP_BUTTON = N_("Stop")
SURVEY_RECORDED = N_("Saved, thank you.")
SURVEY_SKIPPED = N_("Skipped.")
SURVEY_ALREADY = N_("Already answered.")
SURVEY_PAUSED = N_("Survey paused after {done} of {n} pictures. Send /survey to continue where you stopped.")
SURVEY_DONE = N_(
    "Thank you! You rated {rated} of {n} pictures (your mean: {mean}). /stats shows everyone's survey "
    "results next to the AdaIN report's 7.3."
)
SURVEY_ALL_ANSWERED = N_("You have answered all {n} survey pictures, thank you! /stats shows the results.")
SURVEY_PREPARING = N_(
    "The survey pictures are still being painted ({ready} of {n} ready). Please send /survey again in a few "
    "seconds."
)
SURVEY_UNAVAILABLE = N_("The survey is not available on this bot right now.")
SURVEY_TUBINGEN = N_("Tübingen (photo: Andreas Praefcke, CC BY 3.0)")
STATS_REPORT = N_("(± is the 95 % interval; the AdaIN report's 52-person survey averaged 7.3)")

FORGET_CONFIRM = N_("Delete everything I store about you (photos, jobs, ratings, settings)? This cannot be undone.")
FORGOTTEN = N_("Done: I deleted everything I stored about you.")
FORGET_KEPT = N_("OK, nothing was deleted.")

# bad input (REASON_*: what was wrong with an upload, inside BAD_IMAGE / BAD_VIDEO)
REASON_NOT_IMAGE = N_("it is not an image in a format I can read (try JPEG, PNG or WebP)")
REASON_CORRUPT = N_("it is damaged and cannot be decoded")
REASON_TRUNCATED = N_("it is incomplete (the upload was cut off)")
REASON_TOO_LARGE = N_("it is too large to process safely")
REASON_TOO_SMALL = N_("it is too small ({width}×{height} pixels; each side needs at least {min_side})")
REASON_EMPTY = N_("it is empty")
REASON_NOT_VIDEO = N_("it is not a video I can read")
REASON_NO_VIDEO_STREAM = N_("it has no picture, only sound")
REASON_STILL_IMAGE = N_("it is a still picture; send it as a photo instead")
REASON_VIDEO_TOO_LARGE = N_("its frames are larger than 7680×4320")
REASON_NO_FRAMES = N_("it has no frames I can decode")
LANGUAGE_AUTO = N_("from Telegram")
NOT_AN_IMAGE = N_("That file is not an image I can read. Please send a photo (JPEG, PNG, WebP…).")
BAD_IMAGE = N_("I couldn't use that image: {reason}. Please send another photo.")
TOO_THIN = N_(
    "That picture is {width}×{height} pixels: {ratio} times longer than it is wide, too thin to paint "
    "(up to {limit}:1 works). Please crop it or send another picture."
)
JOB_IMAGE_UNUSABLE = N_("one of the pictures could not be read; please send it again as a photo")
JOB_VIDEO_UNUSABLE = N_("the video could not be read to the end; please send it again (MP4 works best)")
JOB_METHOD_UNAVAILABLE = N_("that method is not available on this bot right now; please pick another one")
JOB_OPTIONS_UNUSABLE = N_("these settings do not work for this picture; try another size or method")
TOO_BIG = N_("That file is too big ({size_mb:.0f} MB; the limit is {limit_mb:.0f} MB). Please send a smaller image.")
TOO_BIG_VIDEO = N_(
    "That video is too big ({size_mb:.0f} MB; bots can download up to {limit_mb:.0f} MB). "
    "Please send a shorter clip."
)
STICKER = N_("Stickers are fun, but I need a photo. Please send a picture.")
VOICE = N_("I can't listen, sorry! Please send me a photo.")
OTHER_MEDIA = N_("I can't use that. Please send a photo (or an image as a file).")
TEXT_WANTS_PHOTO = N_("Please send me a photo to paint (or /help).")
TEXT_WANTS_STYLE = N_("I'm waiting for your style image: please send it as a photo or a file (or /cancel).")
TEXT_WANTS_BUTTON = N_("Please pick one of the buttons above (or /cancel).")
UNKNOWN_COMMAND = N_("I don't know that command. Try /help.")
ERROR = N_("Sorry, something went wrong on my side. Please try again.")
ALBUM_TOO_BIG = N_("I use the first two photos of an album: the first is the content, the second the style.")

_METHOD_LABELS = {
    "adain": N_("⚡ Fast (AdaIN)"),
    "johnson": N_("🖼 Preset net (Johnson)"),
    "gatys": N_("🎯 Best quality (Gatys, ~{estimate})"),
}
_METHOD_NAMES = {"adain": N_("AdaIN"), "johnson": N_("Johnson"), "gatys": N_("Gatys")}
_PRESET_TITLES = {
    "starry_night": N_("The Starry Night"),
    "the_scream": N_("The Scream"),
    "great_wave": N_("The Great Wave off Kanagawa"),
    "shipwreck_of_the_minotaur": N_("The Shipwreck of the Minotaur"),
    "udnie": N_("Udnie (Young American Girl, The Dance)"),
    "woman_with_hat": N_("Woman with a Hat"),
    "mondrian": N_("Cubist Composition (cropped)"),
}
OWN_STYLE_BUTTON = N_("🎨 My own style")
OWN_STYLE_NAME = N_("your style image")
CANCEL_BUTTON = N_("✖ Cancel")
STRONGER_BUTTON = N_("➕ Stronger")
WEAKER_BUTTON = N_("➖ Weaker")
BIGGER_STROKES_BUTTON = N_("🖌 Bigger strokes")
FINER_STROKES_BUTTON = N_("✏️ Finer strokes")
TEXTURE_BUTTON = N_("🧵 Canvas texture")
_BRUSHES = {"fine": N_("fine"), "medium": N_("medium"), "bold": N_("bold")}
KEEP_COLORS_BUTTON = N_("🌈 Keep my colours")
ANOTHER_STYLE_BUTTON = N_("🔁 Another style")
YES_BUTTON = N_("Yes, delete")
NO_BUTTON = N_("No")


def duration(seconds: float) -> str:
    """'40 s', '3 min', '1 h 5 min' (rounded), in the current language."""
    if seconds < 90:
        return gettext(N_("{n} s")).format(n=max(1, round(seconds)))
    minutes = round(seconds / 60)
    if minutes < 60:
        return gettext(N_("{n} min")).format(n=minutes)
    return gettext(N_("{h} h {m} min")).format(h=minutes // 60, m=minutes % 60)


def progress_bar(fraction: float, width: int = 10) -> str:
    filled = max(0, min(width, int(round(fraction * width))))
    return "▓" * filled + "░" * (width - filled)


def pictures(n: int) -> str:
    """'1 picture', '3 pictures' (Russian: three plural forms)."""
    return ngettext("{n} picture", "{n} pictures", n).format(n=n)


def stats_line(name: str, count: int, mean: str) -> str:
    """'Gatys: 3 ratings, mean 7.0 ± 1.2' in the current language."""
    return ngettext("{name}: {count} rating, mean {mean}", "{name}: {count} ratings, mean {mean}",
                    count).format(name=name, count=count, mean=mean)


def style_title(style_name: str) -> str:
    """A preset's title, or "your style image", in the current language."""
    from styletransfer.presets import PRESETS

    return preset_title(style_name) if style_name in PRESETS else gettext(_STRINGS["OWN_STYLE_NAME"])


def brush_name(stroke: float) -> str:
    """A brush size in the current language: "fine", "medium", "bold", or its number ("2.25")."""
    from styletransfer.scale import stroke_name

    name = stroke_name(float(stroke))
    return gettext(_BRUSHES[name]) if name in _BRUSHES else name


def preset_title(name: str) -> str:
    """A preset's title in the current language (the English title for unknown names)."""
    title = _PRESET_TITLES.get(name)
    return gettext(title) if title else name


# Every upper-case string above is a msgid: it is kept here and translated on access, so
# `texts.START` always reads in the language of the update or job being handled.
_STRINGS = {k: v for k, v in list(globals().items()) if k.isupper() and isinstance(v, str)}
for _k in _STRINGS:
    del globals()[_k]
_DICTS = {"METHOD_LABELS": _METHOD_LABELS, "METHOD_NAMES": _METHOD_NAMES}


def __getattr__(name: str):
    if name in _STRINGS:
        return gettext(_STRINGS[name])
    if name in _DICTS:
        return {k: gettext(v) for k, v in _DICTS[name].items()}
    if name == "COMMANDS":
        return [(command, gettext(description)) for command, description in _COMMANDS]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def msgids() -> list[str]:
    """Every string the bot may show (for the catalogue check)."""
    plural = ["{n} picture", "{n} pictures", "{name}: {count} rating, mean {mean}",
              "{name}: {count} ratings, mean {mean}"]
    return [*_STRINGS.values(), *(v for d in _DICTS.values() for v in d.values()), *(d for _, d in _COMMANDS),
            *_PRESET_TITLES.values(), *_BRUSHES.values(), "{n} s", "{n} min", "{h} h {m} min", *plural]
