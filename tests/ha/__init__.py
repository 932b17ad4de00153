"""Home Assistant tests of the Habitus integration (pytest-homeassistant-custom-component)."""
