"""stylebot: the Telegram front end of :mod:`styletransfer`.

Layers, top to bottom (each imports only from layers below it; ``tests/test_layout.py``
checks it with import-linter):

* ``bot.__main__`` (the ``stylebot`` command), ``bot.app`` (the wiring), ``bot.check``
* ``bot.telegram``: handlers, conversation, keyboards, delivery
* ``bot.web``: health, metrics, dashboard, charts, webhook
* ``bot.jobs``: the queue interface, its two engines, inference, /survey pictures
* ``bot.store``: tables, database, migrations
* ``bot.context``, ``bot.config``, ``bot.logs``, ``bot.texts``, ``bot.i18n``, ``bot.survey``

The bot process never imports torch; painting runs in an inference process
(:mod:`bot.jobs.inference`).
"""

from . import _compat

_compat.install()  # the module paths before the sub-packages still import, with a DeprecationWarning
