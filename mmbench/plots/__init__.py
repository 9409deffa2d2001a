"""Every matplotlib figure of mmbench, one module per topic (layer 2: imports only core and inputs).

:mod:`.figures` shared helpers (pyplot-free figures, figure -> image or PNG, label truncation);
:mod:`.matching` similarity heatmaps, zero-shot bars, image grids; :mod:`.video` frame strips and
temporal curves; :mod:`.audio` waveform / mel / MFCC / chroma views and their arrays; :mod:`.explain`
several explanations side by side; :mod:`.fusion` the fusion lab's comparison figures.

Nothing is imported here, so ``import mmbench.plots`` stays free of matplotlib: import the topic module.
"""
