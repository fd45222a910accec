"""Training of the AdaIN decoder and the Johnson nets (``stylize-train``).

``data`` (RAM images, cached features and statistics), ``losses``, ``grid``
(the fixed evaluation grid), ``loop`` (resume, export, cards) and ``cli``.
"""
