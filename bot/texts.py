"""Every user-facing string of the bot, in one place."""

from __future__ import annotations

START = (
    "Hi! I turn your photos into paintings with neural style transfer.\n"
    "Send me a photo, then pick a painting (e.g. The Starry Night) or send a second photo as your own style."
)
HELP = (
    "How to use me:\n"
    "1. Send a photo (as a photo, or as a file for full quality), a video, a GIF or a round video message.\n"
    "2. Pick a style: one of the presets (/styles) or \"My own style\" and send a second photo.\n"
    "   Tip: an album of two photos = content + style.\n"
    "3. Pick a method: Fast (AdaIN), Preset net (Johnson) or Best quality (Gatys, slower).\n"
    "Then rate the result and use the buttons to make it stronger, weaker, keep your colours or try another style.\n\n"
    "/styles - the preset paintings\n/settings - default method, strength, colours, size\n"
    "/cancel - stop what is going on\n/stats - how people rate the results\n"
    "/forget - delete everything I store about you\n/help - this text"
)
COMMANDS = [
    ("start", "What this bot does"),
    ("help", "How to use it"),
    ("styles", "The preset paintings"),
    ("settings", "Method, strength, colours, size"),
    ("cancel", "Stop the current request"),
    ("stats", "Ratings survey"),
    ("forget", "Delete my data"),
]

STYLES_INTRO = "These are the presets. Send me a photo and pick one of them."
CHOOSE_STYLE = "Nice photo! Pick a style, or choose \"My own style\" and send a painting."
CHOOSE_STYLE_VIDEO = ("Nice clip ({seconds:.0f} s{trim})! Pick a style, or choose \"My own style\" and send a "
                      "painting. Videos are painted with the fast methods.")
VIDEO_TRIM_NOTE = "; I will paint the first {limit:.0f} s"
VIDEO_NO_METHOD = ("I can't paint videos in that style here: videos need the Fast method or a preset net. "
                   "Pick one of the presets with a preset net, or send a photo.")
STYLE_MUST_BE_PICTURE = "For the style I need a picture (a painting or any photo), not a video."
BAD_VIDEO = "I couldn't use that video: {reason}. Please send another one (MP4 works best)."
SEND_OWN_STYLE = "OK, send me the style image (a painting or any picture) as a photo or a file."
STYLE_RECEIVED = "Got your style image."
CHOOSE_METHOD = "Style: {style}. Which method?"
CANCELLED = "Cancelled. Send me a new photo whenever you like."
NOTHING_TO_CANCEL = "There is nothing to cancel. Send me a photo to start."
QUEUED = "⏳ Queued: position {position}. I will update this message."
RUNNING = "🎨 Painting ({method})… {bar} {percent}%"
RUNNING_VIDEO = "🎨 Painting ({method})… frame {frame} of {frames} {bar}{eta}"
ETA = " · about {left} left"
STARTING = "🎨 Starting ({method})…"
DONE_STATUS = "✅ Done in {seconds:.0f} s."
FAILED_STATUS = "❌ Sorry, that did not work: {reason}"
INTERNAL_FAILURE = "something went wrong on my side"
WORKER_DIED = "the painting process crashed; please try again"
SEND_FAILED = "I painted it but could not send it to you; please send the photo again"
CANCELLED_STATUS = "✖ Cancelled."
RESULT_CAPTION = "{style} · {method} · strength {alpha:.2f}{colors} · {seconds:.0f} s"
KEEP_COLORS_SUFFIX = " · your colours"
TRIMMED_SUFFIX = " · the first {seconds:.0f} s"
RATE_PROMPT = "Rate it 1–10, or change it:"
RATED = "Thanks! You rated it {score}/10."
RERATED = "Updated your rating to {score}/10."
ALREADY_STRONGEST = "Already at full strength. Try another style or Best quality."
ALREADY_WEAKEST = "Already at the weakest setting."
COLORS_ALREADY = "Your colours are already kept for this one."

BUSY = ("I'm very busy right now ({queued} waiting). I kept your photos: "
        "please tap the button again in a few minutes.")
USER_LIMIT = ("You already have {count} waiting. I kept your photos: tap the button again "
              "when one of them is done (or /cancel them).")

STALE_BUTTON = "This button is out of date."
ALREADY_DONE = "I already made (or am making) that version; see the messages below."
NO_PHOTO = "I no longer have that photo. Please send it again."
METHOD_UNAVAILABLE = "That method is not available for this style."

SETTINGS = (
    "Your defaults:\n"
    "Method: {method}\nStrength (alpha): {alpha:.2f}\nKeep my colours: {colors}\nOutput size: {size} px\n"
    "Tap to change."
)
SETTINGS_SAVED = "Saved."

STATS_TITLE = "📊 Ratings survey"
STATS_NONE = "No ratings yet. Rate a result to start the survey!"
ADMIN_STATUS = "Admin: {queued} queued, running job {running}, inference process {alive} ({restarts} restarts)"
STATS_LINE = "{name}: {count} rating{s}, mean {mean}"
STATS_REPORT = "(± is the 95 % interval; the AdaIN report's 52-person survey averaged 7.3)"

FORGET_CONFIRM = "Delete everything I store about you (photos, jobs, ratings, settings)? This cannot be undone."
FORGOTTEN = "Done: I deleted everything I stored about you."
FORGET_KEPT = "OK, nothing was deleted."

# bad input
NOT_AN_IMAGE = "That file is not an image I can read. Please send a photo (JPEG, PNG, WebP…)."
BAD_IMAGE = "I couldn't use that image: {reason}. Please send another photo."
TOO_THIN = ("That picture is {width}×{height} pixels: {ratio} times longer than it is wide, too thin to paint "
            "(up to {limit}:1 works). Please crop it or send another picture.")
JOB_IMAGE_UNUSABLE = "one of the pictures could not be read; please send it again as a photo"
JOB_VIDEO_UNUSABLE = "the video could not be read to the end; please send it again (MP4 works best)"
JOB_METHOD_UNAVAILABLE = "that method is not available on this bot right now; please pick another one"
JOB_OPTIONS_UNUSABLE = "these settings do not work for this picture; try another size or method"
TOO_BIG = "That file is too big ({size_mb:.0f} MB; the limit is {limit_mb:.0f} MB). Please send a smaller image."
TOO_BIG_VIDEO = ("That video is too big ({size_mb:.0f} MB; bots can download up to {limit_mb:.0f} MB). "
                 "Please send a shorter clip.")
STICKER = "Stickers are fun, but I need a photo. Please send a picture."
VOICE = "I can't listen, sorry! Please send me a photo."
OTHER_MEDIA = "I can't use that. Please send a photo (or an image as a file)."
TEXT_WANTS_PHOTO = "Please send me a photo to paint (or /help)."
TEXT_WANTS_STYLE = "I'm waiting for your style image: please send it as a photo or a file (or /cancel)."
TEXT_WANTS_BUTTON = "Please pick one of the buttons above (or /cancel)."
UNKNOWN_COMMAND = "I don't know that command. Try /help."
ERROR = "Sorry, something went wrong on my side. Please try again."
ALBUM_TOO_BIG = "I use the first two photos of an album: the first is the content, the second the style."

METHOD_LABELS = {
    "adain": "⚡ Fast (AdaIN)",
    "johnson": "🖼 Preset net (Johnson)",
    "gatys": "🎯 Best quality (Gatys, ~{estimate})",
}
METHOD_NAMES = {"adain": "AdaIN", "johnson": "Johnson", "gatys": "Gatys"}
OWN_STYLE_BUTTON = "🎨 My own style"
OWN_STYLE_NAME = "your style image"
CANCEL_BUTTON = "✖ Cancel"
STRONGER_BUTTON = "➕ Stronger"
WEAKER_BUTTON = "➖ Weaker"
KEEP_COLORS_BUTTON = "🌈 Keep my colours"
ANOTHER_STYLE_BUTTON = "🔁 Another style"
YES_BUTTON = "Yes, delete"
NO_BUTTON = "No"


def duration(seconds: float) -> str:
    """'40 s', '3 min', '1 h 5 min' (rounded)."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def progress_bar(fraction: float, width: int = 10) -> str:
    filled = max(0, min(width, int(round(fraction * width))))
    return "▓" * filled + "░" * (width - filled)


def pictures(n: int) -> str:
    """'1 picture', '3 pictures'."""
    return f"{n} picture" if n == 1 else f"{n} pictures"
