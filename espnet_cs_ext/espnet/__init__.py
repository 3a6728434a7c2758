"""ESPnet components of the plugin (import only where espnet2 is wanted: it is slow)."""
