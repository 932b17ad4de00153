"""Habitus engine: pure Python + numpy, no Home Assistant imports.

The hub (``custom_components/habitus``), the ``habitus`` command-line tool and the benchmarks all run
this same code. A test enforces that nothing here imports ``homeassistant``. Inside the integration it
is ``custom_components.habitus.engine``; offline it is installed as ``habitus_engine``.
"""
