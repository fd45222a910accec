"""stylebot: the Telegram front end of :mod:`styletransfer`.

The bot process never imports torch; stylization runs in a separate inference
process (:mod:`bot.worker`) fed through the narrow interface in :mod:`bot.jobs`.
"""
