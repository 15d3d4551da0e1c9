"""``edge-emojify video``: emojify recorded clips frame by frame, sound kept, every face covered.

``media`` reads and writes files through PyAV (FFmpeg), the only module here that imports it;
``job`` runs each frame through the mirror's own pipeline and renderer; ``coverage`` and
``timeline`` report what happened to the faces. PyAV is an optional extra (``[video]``), so the
appliance itself never needs it.
"""
