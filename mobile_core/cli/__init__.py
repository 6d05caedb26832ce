"""Layer 4, the tools: the console scripts of the runtime package.

``demix`` (:mod:`.demix`), ``demix-validate`` (:mod:`.validate`), ``demix-golden``
(:mod:`.golden`) and ``demix-spectrogram`` (:mod:`.spectrogram`).

May import: every layer below (``transform``, ``model``, ``contract``, ``errors``, ``assets``).
Nothing from ``export``.
"""
