"""espnet-cs-ext: code-switched Whisper ASR for ESPnet."""
