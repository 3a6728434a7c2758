"""Package data: sentence lists for the synthetic code-switched corpus (see synthetic/README.md)."""
