"""The Telegram side (python-telegram-bot v22): the handlers (:mod:`bot.telegram.handlers`),
the conversation that turns a photo, a style and a method into a job
(:mod:`bot.telegram.conversation`), the keyboards, and the delivery of a job's progress
and result (:mod:`bot.telegram.delivery`). The words are in :mod:`bot.texts`."""
