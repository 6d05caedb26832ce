"""Layer 4, the tools: the console scripts of the runtime package.

``demix`` (:mod:`.demix`), ``demix-validate`` (:mod:`.validate`), ``demix-golden``
(:mod:`.golden`) and ``demix-spectrogram`` (:mod:`.spectrogram`); :mod:`.guard`, the one way every
console script of the project (the ``export`` tools too) turns errors, signals and closed pipes
into one line and the conventional exit status; :mod:`.outputs`, ``demix``'s checks of where its
outputs go (no clash, no input written over).

May import: every layer below (``transform``, ``model``, ``contract``, ``errors``, ``assets``).
Nothing from ``export``.
"""
