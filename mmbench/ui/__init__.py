"""The mmbench Gradio web app (``python app.py`` or ``mmbench app``).

``mmbench.ui.app.build_app()`` returns the Blocks; each capability tab lives in its own
``<task>_tab.py`` module with a ``build_<task>_tab()`` function. Importing this package is cheap:
Gradio is imported only when the app module is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_app", "launch"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module 'mmbench.ui' has no attribute {name!r}")
